/*
 * Confab Meet external API: put a Confab meeting into your own page, in the style of Jitsi Meet's
 * IFrame API (JitsiMeetExternalAPI). Served by every Confab server at /external_api.js.
 *
 *   <script src="https://meet.example.com/external_api.js"></script>
 *   <script>
 *     const api = new ConfabMeetExternalAPI('meet.example.com', {
 *       roomName: 'standup', parentNode: document.querySelector('#meet'),
 *       userInfo: { displayName: 'Ada' }, configOverwrite: { prejoinPageEnabled: false },
 *     });
 *     api.on('videoConferenceJoined', (e) => console.log('joined as', e.id));
 *     api.executeCommand('toggleAudio');
 *   </script>
 *
 * The domain is a host with an optional port ("meet.example.com", "127.0.0.1:7880"). The meeting
 * is loaded over https://, or over http:// when this script itself was loaded over http:// (a
 * development server); "http://host:port" or "https://host" say it explicitly.
 *
 * Commands and events travel over postMessage between this page and the meeting's iframe as
 * {confab: 1, type: 'ready' | 'event' | 'command', name, data}. This side sends only to the
 * meeting's origin and accepts only messages whose source is the iframe's window and whose origin
 * is the meeting's origin; the meeting accepts commands only from this page (its parent, at the
 * origin it was told). Full reference: docs/embedding.md in the Confab repository.
 *
 * Plain ES2019, no dependencies, no build step.
 */
(function () {
  'use strict';

  // Read while the script runs: document.currentScript is null afterwards (and for modules).
  var loadedFrom = document.currentScript && document.currentScript.src ? document.currentScript.src : '';
  var scriptProtocol = '';
  try {
    scriptProtocol = loadedFrom ? new URL(loadedFrom, location.href).protocol : '';
  } catch (e) {
    scriptProtocol = '';
  }

  var frameCount = 0;

  /** "meet.example.com[:port]", or with an explicit "http://" / "https://", to an origin. */
  function meetingOrigin(domain) {
    var d = String(domain == null ? '' : domain).trim();
    if (!d) throw new Error('ConfabMeetExternalAPI: a domain is required, e.g. "meet.example.com"');
    var scheme = scriptProtocol === 'http:' ? 'http' : 'https';
    var m = /^(https?):\/\//i.exec(d);
    if (m) {
      scheme = m[1].toLowerCase();
      d = d.slice(m[0].length);
    }
    d = d.replace(/\/+$/, '');
    if (!d || /[/?#@\s]/.test(d)) {
      throw new Error('ConfabMeetExternalAPI: the domain is a host and an optional port, without a path: ' + domain);
    }
    return new URL(scheme + '://' + d).origin;
  }

  /** Whether `jwt` is a LiveKit-format access token (it has the `video` grant claim). */
  function isAccessToken(jwt) {
    try {
      var part = String(jwt).split('.')[1];
      var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) b64 += '=';
      var claims = JSON.parse(atob(b64));
      return !!claims && typeof claims.video === 'object' && claims.video !== null;
    } catch (e) {
      return false;
    }
  }

  function cssSize(v, fallback) {
    if (v === undefined || v === null || v === '') return fallback;
    return typeof v === 'number' || /^\d+(\.\d+)?$/.test(String(v)) ? v + 'px' : String(v);
  }

  /**
   * new ConfabMeetExternalAPI(domain, {
   *   roomName,            the room ('' opens the start page)
   *   jwt,                 a Jitsi-format token (needs [auth.jwt] on the server) or a LiveKit-format
   *                        access token (recognised by its `video` claim; joins at once)
   *   parentNode,          where the iframe goes (default document.body)
   *   width, height,       numbers are pixels, strings any CSS length (default '100%')
   *   userInfo: {displayName, email},   the display name to join with (email is not used)
   *   configOverwrite: {startWithAudioMuted, startWithVideoMuted, prejoinPageEnabled},
   *   lang,                the app's language ('en', 'de', 'es', 'fr', 'vi'), as Jitsi's `lang`;
   *                        without it the person's own choice or their browser's language
   *   onload,              called on the iframe's load event
   * })
   */
  function ConfabMeetExternalAPI(domain, options) {
    if (!(this instanceof ConfabMeetExternalAPI)) throw new TypeError('use new ConfabMeetExternalAPI(...)');
    var opts = options || {};
    var config = opts.configOverwrite || {};
    var user = opts.userInfo || {};
    var self = this;

    this._origin = meetingOrigin(domain);
    this._listeners = Object.create(null);
    this._queue = [];
    this._ready = false;
    this._disposed = false;
    this._participants = Object.create(null);
    this._myId = undefined;
    this._audioMuted = undefined;
    this._videoMuted = undefined;

    var q = new URLSearchParams();
    var token = opts.token;
    var jwt = opts.jwt;
    if (jwt && !token && isAccessToken(jwt)) {
      token = jwt;
      jwt = undefined;
    }
    if (token) q.set('token', token);
    if (jwt) q.set('jwt', jwt);
    if (user.displayName) q.set('name', String(user.displayName));
    if (config.startWithAudioMuted) q.set('mic', '0');
    if (config.startWithVideoMuted) q.set('camera', '0');
    if (config.prejoinPageEnabled === false) q.set('skipPrejoin', '1');
    if (opts.lang) q.set('lang', String(opts.lang));
    q.set('embed', '1');
    q.set('parentOrigin', location.origin);
    var room = opts.roomName ? '/' + encodeURIComponent(String(opts.roomName)) : '/';
    this._url = this._origin + room + '?' + q.toString();

    var frame = document.createElement('iframe');
    var id = 'confabMeetFrame' + frameCount++;
    frame.id = id;
    frame.name = id;
    frame.title = 'Confab meeting';
    frame.setAttribute('allow', 'camera; microphone; display-capture; autoplay; clipboard-write; fullscreen');
    frame.setAttribute('allowfullscreen', '');
    frame.style.border = '0';
    frame.style.width = cssSize(opts.width, '100%');
    frame.style.height = cssSize(opts.height, '100%');
    if (typeof opts.onload === 'function') frame.addEventListener('load', opts.onload);
    this._frame = frame;

    this._onMessage = function (ev) {
      if (ev.source !== frame.contentWindow || ev.origin !== self._origin) return;
      var msg = ev.data;
      if (!msg || typeof msg !== 'object' || msg.confab !== 1) return;
      if (msg.type === 'ready') {
        self._ready = true;
        var queued = self._queue;
        self._queue = [];
        for (var i = 0; i < queued.length; i++) self._post(queued[i]);
      } else if (msg.type === 'event' && typeof msg.name === 'string') {
        var data = msg.data && typeof msg.data === 'object' ? msg.data : {};
        self._track(msg.name, data);
        self._emit(msg.name, data);
      }
    };
    window.addEventListener('message', this._onMessage);

    frame.src = this._url;
    (opts.parentNode || document.body).appendChild(frame);
  }

  var proto = ConfabMeetExternalAPI.prototype;

  proto._post = function (msg) {
    var w = this._frame.contentWindow;
    if (w) w.postMessage(msg, this._origin);
  };

  /** Keeps what the getters answer from. */
  proto._track = function (name, data) {
    if (name === 'videoConferenceJoined') {
      this._myId = data.id;
      this._participants = Object.create(null);
    } else if (name === 'videoConferenceLeft') {
      this._myId = undefined;
      this._participants = Object.create(null);
    } else if (name === 'participantJoined' && data.id) {
      this._participants[data.id] = { participantId: data.id, displayName: data.displayName };
    } else if (name === 'participantLeft') {
      delete this._participants[data.id];
    } else if (name === 'displayNameChange' && this._participants[data.id]) {
      this._participants[data.id].displayName = data.displayname;
    } else if (name === 'audioMuteStatusChanged') {
      this._audioMuted = !!data.muted;
    } else if (name === 'videoMuteStatusChanged') {
      this._videoMuted = !!data.muted;
    }
  };

  proto._emit = function (name, data) {
    var list = (this._listeners[name] || []).slice();
    for (var i = 0; i < list.length; i++) {
      try {
        list[i].call(this, data);
      } catch (e) {
        // One listener's mistake must not stop the others, nor this API.
        setTimeout(function () {
          throw e;
        });
      }
    }
  };

  /**
   * Runs a command in the meeting: 'toggleAudio', 'toggleVideo', 'hangup',
   * 'sendChatMessage' (text), 'displayName' (name), 'toggleChat', 'toggleRaiseHand',
   * 'toggleTileView', 'startRecording' ({mode, youtubeStreamKey | rtmpStreamKey}), 'stopRecording'
   * (mode). A command the meeting cannot carry out answers with an 'error' event {command, message}.
   * Commands given before the meeting page has loaded wait for it.
   */
  proto.executeCommand = function (name) {
    if (this._disposed) return;
    var msg = { confab: 1, type: 'command', name: String(name), data: Array.prototype.slice.call(arguments, 1) };
    if (this._ready) this._post(msg);
    else this._queue.push(msg);
  };

  /** executeCommands({toggleAudio: [], displayName: ['Ada']}) */
  proto.executeCommands = function (commands) {
    var names = Object.keys(commands || {});
    for (var i = 0; i < names.length; i++) {
      var args = commands[names[i]];
      this.executeCommand.apply(this, [names[i]].concat(Array.isArray(args) ? args : args === undefined ? [] : [args]));
    }
  };

  proto.addListener = function (event, listener) {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    (this._listeners[event] = this._listeners[event] || []).push(listener);
    return this;
  };

  proto.removeListener = function (event, listener) {
    var list = this._listeners[event];
    if (list) {
      var i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  };

  proto.once = function (event, listener) {
    var self = this;
    var wrapped = function (data) {
      self.removeListener(event, wrapped);
      listener.call(self, data);
    };
    return this.addListener(event, wrapped);
  };

  proto.removeAllListeners = function (event) {
    if (event === undefined) this._listeners = Object.create(null);
    else delete this._listeners[event];
    return this;
  };

  proto.on = proto.addListener;
  proto.off = proto.removeListener;
  proto.addEventListener = proto.addListener;
  proto.removeEventListener = proto.removeListener;

  /** addEventListeners({videoConferenceJoined: fn, ...}) */
  proto.addEventListeners = function (listeners) {
    var names = Object.keys(listeners || {});
    for (var i = 0; i < names.length; i++) this.addListener(names[i], listeners[names[i]]);
    return this;
  };

  proto.getIFrame = function () {
    return this._frame;
  };

  /** Whether the microphone is muted, as last reported (undefined before the meeting said). */
  proto.isAudioMuted = function () {
    return Promise.resolve(this._audioMuted);
  };

  proto.isVideoMuted = function () {
    return Promise.resolve(this._videoMuted);
  };

  /** The other people in the meeting: [{participantId, displayName}]. */
  proto.getParticipantsInfo = function () {
    var p = this._participants;
    return Object.keys(p).map(function (k) {
      return { participantId: p[k].participantId, displayName: p[k].displayName };
    });
  };

  /** Everyone in the meeting, you included; 0 when not in one. */
  proto.getNumberOfParticipants = function () {
    return this._myId === undefined ? 0 : Object.keys(this._participants).length + 1;
  };

  /** Removes the iframe (which leaves the meeting) and every listener. */
  proto.dispose = function () {
    if (this._disposed) return;
    this._disposed = true;
    window.removeEventListener('message', this._onMessage);
    this._listeners = Object.create(null);
    this._queue = [];
    if (this._frame.parentNode) this._frame.parentNode.removeChild(this._frame);
  };

  window.ConfabMeetExternalAPI = ConfabMeetExternalAPI;
})();
