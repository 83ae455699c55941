/**
 * The CSS a message may keep in its `style` attributes: an allowlist of properties, each with the
 * values it may take (sanitize-html's `allowedStyles`; it parses the attribute with postcss and
 * writes back only the declarations that pass, so what is checked is what is emitted).
 *
 * A value may hold words, numbers, colours, quoted font names and the functions rgb(), rgba(),
 * hsl(), hsla() and calc(); nothing else can open a parenthesis, so url(), image-set(),
 * expression(), element() and whatever a browser adds next cannot appear. Backslashes (CSS
 * escapes), `@`, `;`, braces and angle brackets are refused outright. Properties that can only
 * load something (background-image, list-style-image, content, cursor, border-image, mask,
 * filter…) are simply not on the list. `position` is static or relative: a fixed, absolute or
 * sticky box could be laid over the reader's own interface; `z-index` and the offsets go with it.
 */

/** Words, numbers, units, colours, quoted names, and the parentheses of the few allowed functions. */
const SAFE_VALUE = /^(?=[^]{0,1000}$)(?:[a-z0-9#%.,+\-*/\s!_]|"[^"\\()<>;@{}]*"|'[^'\\()<>;@{}]*'|(?<![a-z0-9_-])(?:rgba?|hsla?|calc)\(|\))*$/i;

const TYPOGRAPHY = [
  'color', 'direction', 'font', 'font-family', 'font-size', 'font-stretch', 'font-style', 'font-variant', 'font-weight',
  'letter-spacing', 'line-height', 'text-align', 'text-decoration', 'text-decoration-color', 'text-decoration-line',
  'text-decoration-style', 'text-indent', 'text-transform', 'unicode-bidi', 'vertical-align', 'white-space', 'word-break',
  'word-spacing', 'word-wrap', 'overflow-wrap', 'list-style-type', 'list-style-position',
];
const SIDES = ['', '-top', '-right', '-bottom', '-left'];
const BOX = [
  ...SIDES.map((s) => `margin${s}`),
  ...SIDES.map((s) => `padding${s}`),
  ...SIDES.flatMap((s) => [`border${s}`, `border${s}-color`, `border${s}-style`, `border${s}-width`]),
  'border-radius', 'border-collapse', 'border-spacing', 'box-sizing', 'caption-side', 'clear', 'display', 'empty-cells', 'float',
  'height', 'max-height', 'max-width', 'min-height', 'min-width', 'overflow', 'overflow-x', 'overflow-y', 'table-layout',
  'visibility', 'width',
];
const COLOUR = ['background', 'background-color'];

export const ALLOWED_STYLES: Record<string, Record<string, RegExp[]>> = {
  '*': {
    ...Object.fromEntries([...TYPOGRAPHY, ...BOX, ...COLOUR].map((p) => [p, [SAFE_VALUE]])),
    position: [/^\s*(static|relative)\s*$/i],
  },
};
