// Device pickers shared by the prejoin screen and the settings dialog.

import { Room, supportsAudioOutputSelection } from 'livekit-client';
import { type Key, t } from './i18n';
import { type DeviceKind, prefs } from './prefs';
import { h } from './util';

const names: Record<DeviceKind, { label: Key; numbered: Key }> = {
  videoinput: { label: 'device.camera', numbered: 'device.cameraN' },
  audioinput: { label: 'device.microphone', numbered: 'device.microphoneN' },
  audiooutput: { label: 'device.speaker', numbered: 'device.speakerN' },
};

/**
 * A labelled <select> for one kind of device, filled once permission has been given (labels are
 * empty before). `onPick` gets the chosen deviceId; the choice is remembered for next time.
 */
export function devicePicker(kind: DeviceKind, current: () => string | undefined, onPick: (id: string) => void) {
  const label = t(names[kind].label);
  const select = h('select', { attrs: { id: `device-${kind}`, 'aria-label': label } });
  const wrap = h('label', { class: 'field' }, h('span', { text: label }), select);
  select.addEventListener('change', () => {
    prefs.setDevice(kind, select.value);
    onPick(select.value);
  });

  async function refresh() {
    if (kind === 'audiooutput' && !supportsAudioOutputSelection()) {
      wrap.hidden = true;
      return;
    }
    let devices: MediaDeviceInfo[] = [];
    try {
      devices = await Room.getLocalDevices(kind, false);
    } catch {
      // enumerateDevices is missing on insecure origins; the picker just stays empty
    }
    const chosen = current() ?? prefs.device(kind);
    select.replaceChildren(
      ...devices.map((d, i) => {
        const o = h('option', { text: d.label || t(names[kind].numbered, { n: i + 1 }) });
        o.value = d.deviceId;
        o.selected = d.deviceId === chosen;
        return o;
      }),
    );
    if (devices.length === 0) select.append(h('option', { text: t(kind === 'audiooutput' ? 'device.systemDefault' : 'device.noneFound') }));
    select.disabled = devices.length <= 1;
    wrap.hidden = kind === 'audiooutput' && devices.length === 0;
  }

  navigator.mediaDevices?.addEventListener?.('devicechange', () => void refresh());
  return { element: wrap, refresh };
}
