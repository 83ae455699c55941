/**
 * Which messages of the list are selected, as pure changes: toggle one (a checkbox, Ctrl/Cmd-click
 * or `x`), select a range from the last one toggled (shift-click), and forget what left the list.
 */
import type { MessageListItemDto } from '@mailyard/core/contracts';

export interface Selection {
  ids: ReadonlySet<number>;
  /** Where the next shift-click range starts: the message last toggled. */
  anchor: number | null;
}

export const noSelection: Selection = { ids: new Set(), anchor: null };

export function toggleSelected(selection: Selection, id: number): Selection {
  const ids = new Set(selection.ids);
  if (ids.has(id)) ids.delete(id);
  else ids.add(id);
  return { ids, anchor: id };
}

/** Adds every message between the anchor and `id` (inclusive); without an anchor, just `id`. */
export function selectRange(selection: Selection, items: readonly MessageListItemDto[], id: number): Selection {
  const to = items.findIndex((m) => m.id === id);
  const from = selection.anchor === null ? -1 : items.findIndex((m) => m.id === selection.anchor);
  if (to < 0) return selection;
  if (from < 0) return toggleSelected(selection, id);
  const ids = new Set(selection.ids);
  for (let i = Math.min(from, to); i <= Math.max(from, to); i += 1) ids.add(items[i]!.id);
  return { ids, anchor: id };
}

/** Keeps only the messages still in the list. */
export function pruneSelection(selection: Selection, items: readonly MessageListItemDto[]): Selection {
  if (selection.ids.size === 0) return selection;
  const present = new Set(items.map((m) => m.id));
  const ids = new Set([...selection.ids].filter((id) => present.has(id)));
  if (ids.size === selection.ids.size) return selection;
  return { ids, anchor: selection.anchor !== null && present.has(selection.anchor) ? selection.anchor : null };
}
