// The participants pane: who is here, who is muted, and the queue of raised hands first, so whoever
// runs the meeting can take questions in order.

import { icon } from '../icons';
import { h, hueFor, initials } from '../util';

/** What the tiles and the participants pane both show of a person. */
export interface PersonState {
  name: string;
  isLocal: boolean;
  micMuted: boolean;
  camOff: boolean;
  speaking: boolean;
  /** Raised-hand position (1 = first), or 0. */
  hand: number;
}

export interface PersonEntry extends PersonState {
  identity: string;
}

export class ParticipantsPane {
  readonly panel: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly list: HTMLUListElement;
  private last = '';

  constructor(onClose: () => void) {
    this.title = h('h2', { text: 'Participants' });
    this.list = h('ul', { class: 'people-list' });
    this.panel = h(
      'section',
      { class: 'panel people-panel', attrs: { id: 'participants-panel', 'aria-label': 'Participants' } },
      h(
        'div',
        { class: 'panel-head' },
        this.title,
        h('button', { class: 'round small ghost', title: 'Close', attrs: { type: 'button', 'aria-label': 'Close participants' }, on: { click: onClose } }, icon('close')),
      ),
      h('div', { class: 'panel-scroll' }, this.list),
    );
  }

  render(people: PersonEntry[]) {
    const sig = JSON.stringify(people);
    if (sig === this.last) return;
    this.last = sig;
    const sorted = [...people].sort(
      (a, b) =>
        (a.hand || Infinity) - (b.hand || Infinity) ||
        Number(b.isLocal) - Number(a.isLocal) ||
        a.name.localeCompare(b.name),
    );
    this.title.textContent = `Participants (${people.length})`;
    this.list.replaceChildren(
      ...sorted.map((p) =>
        h(
          'li',
          { class: `person${p.speaking ? ' speaking' : ''}`, dataset: { identity: p.identity, name: p.name, ...(p.hand ? { hand: String(p.hand) } : {}) } },
          (() => {
            const a = h('span', { class: 'avatar small', text: initials(p.name) });
            a.style.setProperty('--hue', String(hueFor(p.identity)));
            return a;
          })(),
          h('span', { class: 'person-name', text: p.isLocal ? `${p.name} (you)` : p.name }),
          p.hand ? h('span', { class: 'hand-badge', title: `Raised hand, number ${p.hand}` }, icon('hand'), String(p.hand)) : null,
          h('span', { class: `state${p.micMuted ? ' off' : ''}`, title: p.micMuted ? 'Microphone muted' : 'Microphone on' }, icon(p.micMuted ? 'micOff' : 'mic')),
          h('span', { class: `state${p.camOff ? ' off' : ''}`, title: p.camOff ? 'Camera off' : 'Camera on' }, icon(p.camOff ? 'camOff' : 'cam')),
        ),
      ),
    );
  }
}
