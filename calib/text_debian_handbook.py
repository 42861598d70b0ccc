#!/usr/bin/env python3
"""Calibration and evaluation text from The Debian Administrator's Handbook (Debian
package debian-handbook, installed by scripts/setup-python.sh): real modern English
prose, split by chapter into two disjoint files.

  text_debian_handbook.py CALIB.txt EVAL.txt [--html-dir DIR] [--eval-chapters P,P,...]

Chapters are read in the book's order from index.html's table of contents; every
page a chapter's entries link to belongs to it. Kept: the running prose paragraphs
(DocBook `div.para`, sidebars included) with their inline markup's text; dropped:
markup, navigation, tables of contents, titles, code listings and screen output
(`pre`), examples, figures, tables, callout lists, and paragraphs under MIN_WORDS
words. Whitespace is collapsed; one paragraph per line, a blank line between
paragraphs. Output is UTF-8 and deterministic (the same bytes on every run).

Evaluation = the whole chapters of EVAL_CHAPTERS (the default: 7 "Solving Problems
and Finding Relevant Information", 9 "Unix Services", 14 "Security"); calibration =
every other chapter, preface, foreword and appendix. The provenance (chapters per
file, paragraphs, words, sha256) is printed on stdout. Python standard library only.
"""
import argparse
import hashlib
import os
import sys
from html.parser import HTMLParser

HTML_DIR = '/usr/share/doc/debian-handbook/html/en-US'
EVAL_CHAPTERS = ('solving-problems.html', 'unix-services.html', 'security.html')
TOP_LEVEL = ('preface', 'chapter', 'appendix')
SKIPPED_CLASSES = {'toc', 'docnav', 'example', 'informalexample', 'figure', 'informalfigure',
                   'table', 'informaltable', 'mediaobject', 'calloutlist', 'legalnotice',
                   'titlepage'}
SKIPPED_TAGS = {'pre', 'script', 'style', 'head', 'table'}
MIN_WORDS = 6


class TocParser(HTMLParser):
    """index.html's table of contents -> [(chapter page, title, [pages])], in order.
    Its entries are links inside spans classed preface/chapter/appendix (a new
    chapter) or section (a page of the current one); other links are not read."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chapters, self._span, self._title = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'span':
            self._span = a.get('class')
        elif tag == 'a' and a.get('href') and self._span in TOP_LEVEL + ('section',):
            page = a['href'].partition('#')[0]
            if self._span in TOP_LEVEL:
                self.chapters.append((page, [], [page]))
                self._title = self.chapters[-1][1]
            elif self.chapters and page not in self.chapters[-1][2]:
                self.chapters[-1][2].append(page)

    def handle_data(self, data):
        if self._title is not None:
            self._title.append(data)

    def handle_endtag(self, tag):
        if tag == 'span':
            self._span, self._title = None, None


class ProseParser(HTMLParser):
    """One page -> its prose paragraphs (whitespace collapsed)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self._stack, self._skip, self._para, self._text = [], [], 0, 0, []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get('class') or '').split())
        skip = tag in SKIPPED_TAGS or bool(classes & SKIPPED_CLASSES)
        para = tag == 'div' and 'para' in classes
        if para:
            self._flush()  # a paragraph nested in another one is a paragraph of its own
        self._stack.append((tag, skip, para))
        self._skip += skip
        self._para += para

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, skip, para = self._stack.pop()
            self._skip -= skip
            self._para -= para
            if para:
                self._flush()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._para and not self._skip:
            self._text.append(data)

    def _flush(self):
        words = ''.join(self._text).split()
        self._text = []
        if len(words) >= MIN_WORDS:
            self.paragraphs.append(' '.join(words))


def read_chapters(html_dir):
    """[(chapter page, title, [paragraphs])] in the book's order."""
    toc = TocParser()
    with open(os.path.join(html_dir, 'index.html'), encoding='utf-8') as f:
        toc.feed(f.read())
    if not toc.chapters:
        raise SystemExit('text_debian_handbook: no chapters in %s/index.html' % html_dir)
    pages = [p for _, _, ps in toc.chapters for p in ps]
    if len(pages) != len(set(pages)):  # the split's disjointness rests on this
        raise SystemExit('text_debian_handbook: a page belongs to two chapters in %s/index.html' % html_dir)
    out = []
    for page, title, pages in toc.chapters:
        prose = ProseParser()
        for p in pages:
            with open(os.path.join(html_dir, p), encoding='utf-8') as f:
                prose.feed(f.read())
            prose.close()
        out.append((page, ' '.join(''.join(title).split()), prose.paragraphs))
    return out


def write_text(path, chapters):
    """One paragraph per line, blank lines between; returns (paragraphs, words, sha256)."""
    paras = [p for _, _, ps in chapters for p in ps]
    data = '\n\n'.join(paras).encode('utf-8') + b'\n'
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    return len(paras), sum(len(p.split()) for p in paras), hashlib.sha256(data).hexdigest()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('calibration')
    ap.add_argument('evaluation')
    ap.add_argument('--html-dir', default=HTML_DIR)
    ap.add_argument('--eval-chapters', default=','.join(EVAL_CHAPTERS),
                    help='chapter pages (index.html links) held out for evaluation')
    a = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(a.html_dir, 'index.html')):
        raise SystemExit('text_debian_handbook: %s/index.html missing (apt-get install '
                         'debian-handbook; scripts/setup-python.sh does)' % a.html_dir)
    chapters = read_chapters(a.html_dir)
    held = a.eval_chapters.split(',')
    unknown = sorted(set(held) - {c[0] for c in chapters})
    if unknown:
        raise SystemExit('text_debian_handbook: not chapters of the book: %s' % ', '.join(unknown))
    for path, part in ((a.calibration, [c for c in chapters if c[0] not in held]),
                       (a.evaluation, [c for c in chapters if c[0] in held])):
        n, words, digest = write_text(path, part)
        print('%s: %d paragraphs, %d words, sha256 %s; The Debian Administrator\'s Handbook '
              '(debian-handbook): %s' % (path, n, words, digest, '; '.join(t for _, t, _ in part)))


if __name__ == '__main__':
    main(sys.argv[1:])
