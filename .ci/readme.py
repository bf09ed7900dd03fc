"""Render nbs/index.ipynb to README.md (nbdev_readme needs quarto, which cannot be installed offline).

Usage: python .ci/readme.py          # write README.md
       python .ci/readme.py --check  # exit 1 if README.md is not up to date
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def bench_headline():
    "The headline table of the newest committed benchmark run (`python -m bench`) (bench/results/<date>-<machine>/headline.md)."
    runs = sorted((root/'bench'/'results').glob('*/headline.md'))
    if not runs: return '*(no committed benchmark run yet)*'
    return runs[-1].read_text().rstrip('\n') + f"\n\nFull report: [`{runs[-1].parent.relative_to(root)}/bench.md`]({runs[-1].parent.relative_to(root)}/bench.md)."

def render(nb_path=root/'nbs'/'index.ipynb'):
    nb = json.loads(Path(nb_path).read_text())
    out = ['<!-- generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file -->\n']
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            lines = src.split('\n')
            if lines and lines[0].startswith('> '): lines[0] = '*' + lines[0][2:].strip() + '*'
            out.append('\n'.join(lines).replace('<!-- bench-headline -->', bench_headline()) + '\n')
        elif c['cell_type'] == 'code' and not src.lstrip().startswith('#|'):
            out.append('```python\n' + src + '\n```\n')
            text = ''.join(''.join(o.get('text', '')) for o in c.get('outputs', []) if o.get('output_type') == 'stream')
            if text.strip(): out.append('```\n' + text.rstrip('\n') + '\n```\n')
    return '\n'.join(out)

if __name__ == '__main__':
    text = render()
    if '--check' in sys.argv:
        if (root/'README.md').read_text() != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python .ci/readme.py`')
    else: (root/'README.md').write_text(text)
