/**
 * The rich-text editor (Tiptap: StarterKit and Link), loaded lazily by the compose window so the
 * first page stays small. It reports the HTML and its plain-text alternative on every change.
 * Toolbar: bold, italic, bulleted and numbered lists, quote, link, clear formatting.
 */
import { EditorContent, useEditor } from '@tiptap/react';
import StarterKit from '@tiptap/starter-kit';
import Link from '@tiptap/extension-link';

export interface RichEditorProps {
  initialHtml: string;
  onChange(html: string, text: string): void;
  label: string;
}

export default function RichEditor({ initialHtml, onChange, label }: RichEditorProps) {
  const editor = useEditor({
    extensions: [StarterKit.configure({ link: false }), Link.configure({ openOnClick: false, autolink: true, HTMLAttributes: { rel: 'noopener noreferrer nofollow', target: '_blank' } })],
    content: initialHtml,
    editorProps: { attributes: { 'aria-label': label, role: 'textbox', 'aria-multiline': 'true', class: 'editor-body' } },
    onUpdate: ({ editor: e }) => onChange(e.isEmpty ? '' : e.getHTML(), e.getText({ blockSeparator: '\n\n' })),
  });
  if (!editor) return null;
  // The spoken name must hold the visible label when that is a word or number (WCAG 2.5.3), as for "1.".
  const button = (name: string, title: string, run: () => void, active = false, label = title) => (
    <button type="button" title={title} aria-label={label} aria-pressed={active} onMouseDown={(e) => e.preventDefault()} onClick={run}>
      {name}
    </button>
  );
  return (
    <div className="rich-editor">
      <div className="editor-toolbar" role="toolbar" aria-label="Formatting">
        {button('B', 'Bold', () => editor.chain().focus().toggleBold().run(), editor.isActive('bold'))}
        {button('I', 'Italic', () => editor.chain().focus().toggleItalic().run(), editor.isActive('italic'))}
        {button('•', 'Bulleted list', () => editor.chain().focus().toggleBulletList().run(), editor.isActive('bulletList'))}
        {button('1.', 'Numbered list', () => editor.chain().focus().toggleOrderedList().run(), editor.isActive('orderedList'), '1. Numbered list')}
        {button('❝', 'Quote', () => editor.chain().focus().toggleBlockquote().run(), editor.isActive('blockquote'))}
        {button('Link', 'Link', () => {
          const href = window.prompt('Link address', editor.getAttributes('link').href as string | undefined);
          if (href === null) return;
          if (href === '') editor.chain().focus().unsetLink().run();
          else editor.chain().focus().setLink({ href }).run();
        }, editor.isActive('link'))}
        {button('⌫', 'Clear formatting', () => editor.chain().focus().unsetAllMarks().clearNodes().run())}
      </div>
      <EditorContent editor={editor} className="editor-content" />
    </div>
  );
}
