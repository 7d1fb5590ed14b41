/**
 * The page's only way to build DOM: elements from tag names, text only as text nodes. Nothing
 * here parses HTML, so a value from a webhook (header, body, type, id) can never become markup
 * or script, whatever it contains.
 */

/** What an element may hold: nodes, or text (numbers too). Falsy entries are skipped. */
export type Child = Node | string | number | null | undefined | false;

/** Attributes and handlers {@link h} sets. */
export interface Props {
  class?: string;
  id?: string;
  title?: string;
  type?: string;
  name?: string;
  value?: string;
  placeholder?: string;
  autocomplete?: string;
  for?: string;
  role?: string;
  list?: string;
  /** Only in-page routes (`#/…`) and `blob:` URLs the page made itself. */
  href?: string;
  download?: string;
  rows?: number;
  colspan?: number;
  tabindex?: number;
  spellcheck?: boolean;
  readonly?: boolean;
  disabled?: boolean;
  checked?: boolean;
  selected?: boolean;
  required?: boolean;
  'aria-label'?: string;
  'aria-live'?: 'polite' | 'assertive';
  'aria-pressed'?: 'true' | 'false';
  'aria-current'?: 'page' | 'true';
  /** `data-*` attributes, e.g. `{ event: 'sales/e1' }` → `data-event`. */
  data?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

const BOOLEAN_PROPS = new Set(['readonly', 'disabled', 'checked', 'selected', 'required']);

/** Creates `<tag>` with `props` and `children`; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props) as [keyof Props, unknown][]) {
      if (value === undefined || value === null) continue;
      if (key === 'on') {
        for (const [type, listener] of Object.entries(value as Record<string, EventListener>)) element.addEventListener(type, listener);
      } else if (key === 'data') {
        for (const [name, text] of Object.entries(value as Record<string, string>)) element.dataset[name] = text;
      } else if (key === 'class') {
        element.className = String(value);
      } else if (key === 'href') {
        const href = String(value);
        if (!href.startsWith('#') && !href.startsWith('blob:')) throw new Error(`refusing href ${JSON.stringify(href)}`);
        element.setAttribute('href', href);
      } else if (key === 'value' && (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement || element instanceof HTMLSelectElement || element instanceof HTMLOptionElement)) {
        element.value = String(value);
      } else if (BOOLEAN_PROPS.has(key)) {
        if (value === true) element.setAttribute(key, '');
        if (key === 'checked' && element instanceof HTMLInputElement) element.checked = value === true;
        if (key === 'selected' && element instanceof HTMLOptionElement) element.selected = value === true;
      } else if (key === 'spellcheck') {
        element.spellcheck = value === true;
      } else {
        element.setAttribute(key, String(value));
      }
    }
  }
  append(element, ...children);
  return element;
}

/** Appends children; strings and numbers as text nodes. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces everything in `parent` with `children`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** The element with this id; throws when the page's shell lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}
