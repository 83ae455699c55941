import { describe, expect, it } from 'vitest';
import { sanitizeMailHtml } from './sanitize.js';

/** A hostile corpus: each vector with the output it must give. `t/x` is the tracker's URL throughout. */
function clean(html: string, allowRemoteImages = false) {
  return sanitizeMailHtml(html, { allowRemoteImages, cidUrl: (cid) => (cid === 'logo@m' ? '/api/messages/7/attachments/0' : null) });
}

describe('remote images with remote content off (finding 5)', () => {
  const sources: Array<[string, string]> = [
    ['a leading space', ' https://t/x'],
    ['a newline inside the scheme', 'ht\ntps://t/x'],
    ['a tab inside the scheme', 'ht\ttps://t/x'],
    ['a carriage return and a tab before it', '\r\thttps://t/x'],
    ['an entity for a letter', '&#104;ttps://t/x'],
    ['a hex entity for a tab', '&#x09;https://t/x'],
    ['an upper-case scheme', 'HTTPS://t/x'],
    ['a protocol-relative URL', '//t/x'],
    ['backslashes for slashes', '\\\\t\\x'],
    ['a scheme without slashes', 'https:t/x'],
    ['plain http', 'http://t/x'],
  ];
  for (const [name, src] of sources) {
    it(`blocks <img src> with ${name} and reports remote content`, () => {
      const out = clean(`<p>hi</p><img src="${src}" alt="logo">`);
      expect(out.html).toBe('<p>hi</p><img alt="logo" data-blocked="1" />');
      expect(out.hasRemoteContent).toBe(true);
    });
  }

  it('drops srcset, <picture><source> and <video poster> whatever the src', () => {
    const out = clean('<picture><source srcset="https://t/x 1x"><img srcset="https://t/x 2x" src="cid:logo@m"></picture><video poster="https://t/x"></video>');
    expect(out.html).toBe('<img src="/api/messages/7/attachments/0" />');
    expect(out.html).not.toContain('t/x');
  });

  it('drops background= attributes on tables, cells and body', () => {
    const out = clean('<body background="https://t/x"><table background="https://t/x"><tr><td background="https://t/x">a</td></tr></table></body>');
    expect(out.html).toBe('<table><tr><td>a</td></tr></table>');
  });

  it('drops <style> blocks with @import and @font-face, content and all', () => {
    const out = clean('<style>@import url(https://t/x); @font-face { font-family: x; src: url(https://t/x) } p { color: red }</style><p>text</p>');
    expect(out.html).toBe('<p>text</p>');
  });

  it('keeps remote images, normalized, when the reader asked for them', () => {
    expect(clean('<img src=" ht\ntps://t/x?a=1&amp;b=2">', true).html).toBe('<img src="https://t/x?a=1&amp;b=2" />');
    expect(clean('<img src="//t/x">', true).html).toBe('<img src="https://t/x" />');
    expect(clean('<img srcset="https://t/x 2x" src="https://t/y">', true).html).toBe('<img src="https://t/y" />');
  });

  it('keeps inline images as their attachment URL and raster data: images, and drops other data: images', () => {
    expect(clean('<img src="CID:logo@m">').html).toBe('<img src="/api/messages/7/attachments/0" />');
    expect(clean('<img src="cid:unknown@m">').html).toBe('<span></span>');
    expect(clean('<img src="data:image/png;base64,iVBORw0KGgo=">').html).toBe('<img src="data:image/png;base64,iVBORw0KGgo=" />');
    expect(clean('<img src="data:image/svg+xml;base64,PHN2Zz4=">').html).toBe('<img />');
    expect(clean('<img src="data:text/html;base64,PHNjcmlwdD4=">').html).toBe('<img />');
  });

  it('drops a relative or javascript: image source without calling it remote', () => {
    const out = clean('<img src="/api/account"><img src="javascript:alert(1)">');
    expect(out.html).toBe('<img /><img />');
    expect(out.hasRemoteContent).toBe(false);
  });
});

describe('the style filter is a property allowlist', () => {
  const hostile: Array<[string, string]> = [
    ['url() with an escaped letter', 'background:u\\72l(https://t/x)'],
    ['url() with an escaped r', 'background:u\\rl(https://t/x)'],
    ['url() with a comment inside', 'background:url/**/(https://t/x)'],
    ['url() spelled with an entity', 'background:&#117;rl(https://t/x)'],
    ['url() in quotes via entities', 'background:url(&quot;https://t/x&quot;)'],
    ['image-set()', "background-image:image-set('https://t/x' 1x)"],
    ['-webkit-image-set()', "background:-webkit-image-set('https://t/x' 1x)"],
    ['content: url()', 'content:url(https://t/x)'],
    ['cursor: url()', 'cursor:url(https://t/x),auto'],
    ['list-style-image', 'list-style-image:url(https://t/x)'],
    ['list-style with url()', 'list-style:url(https://t/x) disc'],
    ['@import in the attribute', "@import 'https://t/x'"],
    ['expression()', 'width:expression(alert(1))'],
    ['behavior', 'behavior:url(https://t/x)'],
    ['-moz-binding', '-moz-binding:url(https://t/x#x)'],
    ['border-image', 'border-image:url(https://t/x) 30'],
    ['mask', 'mask:url(https://t/x)'],
    ['filter', 'filter:url(https://t/x#f)'],
  ];
  for (const [name, style] of hostile) {
    it(`drops ${name}`, () => {
      const out = clean(`<div style="${style}">x</div>`);
      expect(out.html).toBe('<div>x</div>');
    });
  }

  it('keeps only the first rule of a style that tries to break out of its braces', () => {
    expect(clean('<div style="color:red}body{background:url(https://t/x)">x</div>').html).toBe('<div style="color:red">x</div>');
  });

  it('keeps the safe declarations of a mixed style and drops the rest', () => {
    const out = clean(`<div style="color:#c00; background:url(https://t/x); font-family:'Helvetica Neue', Arial; margin:0 auto; z-index:99">x</div>`);
    expect(out.html).toBe(`<div style="color:#c00;font-family:'Helvetica Neue', Arial;margin:0 auto">x</div>`);
  });

  it('keeps typographic, box and colour properties', () => {
    const style = 'font-size:14px;line-height:1.5;text-align:center;padding:4px 8px;border:1px solid rgb(0, 0, 0);width:calc(100% - 20px);background-color:hsla(0, 0%, 50%, .5);display:inline-block';
    expect(clean(`<td style="${style}">x</td>`).html).toBe(`<td style="${style}">x</td>`);
  });

  it('keeps position static or relative and drops fixed, absolute and sticky overlays', () => {
    expect(clean('<div style="position:relative">x</div>').html).toBe('<div style="position:relative">x</div>');
    for (const p of ['fixed', 'absolute', 'sticky', 'FIXED']) {
      expect(clean(`<div style="position:${p};top:0;left:0;width:100%">x</div>`).html).toBe('<div style="width:100%">x</div>');
    }
  });

  it('drops properties it does not know, whatever their value', () => {
    expect(clean('<div style="--x:red;COLOR:red;colour:red">x</div>').html).toBe('<div>x</div>');
  });
});

describe('classic XSS vectors', () => {
  const links: Array<[string, string]> = [
    ['entities', 'java&#x09;script:alert(1)'],
    ['an encoded first letter', '&#106;avascript:alert(1)'],
    ['leading whitespace', ' \n javascript:alert(1)'],
    ['mixed case', 'JaVaScRiPt:alert(1)'],
    ['a newline inside', 'java\nscript:alert(1)'],
    ['vbscript', 'vbscript:msgbox(1)'],
    ['a data: document', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='],
  ];
  for (const [name, href] of links) {
    it(`drops a script href with ${name}`, () => {
      expect(clean(`<a href="${href}">x</a>`).html).toBe('<a target="_blank" rel="noopener noreferrer nofollow">x</a>');
    });
  }

  it('keeps web and mail links, opened apart from the app', () => {
    expect(clean('<a href="https://example.test/a?b=1">x</a> <a href="mailto:a@b.test">m</a>').html).toBe(
      '<a href="https://example.test/a?b=1" target="_blank" rel="noopener noreferrer nofollow">x</a> <a href="mailto:a@b.test" target="_blank" rel="noopener noreferrer nofollow">m</a>',
    );
  });

  it('drops event handlers in any case', () => {
    const out = clean('<div OnClick="alert(1)" onmouseover=alert(1)>x</div><img src="cid:logo@m" OnError="alert(1)">');
    expect(out.html).toBe('<div>x</div><img src="/api/messages/7/attachments/0" />');
  });

  it('drops scripts, svg and math with their scripts', () => {
    const out = clean('<script>alert(1)</script><svg onload="alert(1)"><image href="https://t/x"/><script>alert(2)</script></svg><math><mi xlink:href="javascript:alert(3)">m</mi></math>');
    expect(out.html).toBe('m');
  });

  it('drops <base>, <meta refresh>, <link>, frames, objects and forms', () => {
    const out = clean(
      '<base href="https://t/"><meta http-equiv="refresh" content="0;url=https://t/x"><link rel="stylesheet" href="https://t/x">' +
        '<iframe src="https://t/x"></iframe><object data="https://t/x"></object><embed src="https://t/x">' +
        '<form action="https://t/x"><input name="p" type="password"><button formaction="https://t/x">go</button></form><p>after</p>',
    );
    expect(out.html).toBe('go<p>after</p>');
  });

  it('does not let markup hidden in noscript or a title attribute come alive', () => {
    const out = clean('<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript><p title="<img src=x onerror=alert(1)>">t</p>');
    expect(out.html).toBe('<p title="&lt;img src=x onerror=alert(1)&gt;">t</p>');
  });
});
