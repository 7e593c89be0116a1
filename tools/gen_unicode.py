#!/usr/bin/python3
"""Generate src/data/unicode_data.h: the character tables of longtail's BERT tokenizer.

    /usr/bin/python3 tools/gen_unicode.py                 # tables from unicodedata + the compat list
    /usr/bin/python3 tools/gen_unicode.py --probe FILE    # also rebuild tools/unicode_hf_compat.txt

The rules are BERT's as Hugging Face `tokenizers` (Rust) implements them, the reference our golden
test compares against:
  REMOVE  clean_text drops it: U+0000, U+FFFD and categories Cc, Cf, Co (HF's is_other; Python BERT
          drops only Cc and Cf), except \\t \\n \\r, which are whitespace
  SPACE   Rust char::is_whitespace (the Unicode White_Space property) or \\t \\n \\r
  PUNCT   ASCII 33-47, 58-64, 91-96, 123-126 or category P*
  CJK     BERT's _is_chinese_char ranges
  MN      category Mn: dropped after NFD when accents are stripped
  LOWER   has a lowercase mapping (Rust char::to_lowercase, one char at a time, no final sigma)
  DECOMP  has a canonical (NFD) decomposition, Hangul syllables included
  CCC     canonical combining class is not 0 (canonical reordering after NFD)

HF builds those from three Unicode versions (Rust std for case and whitespace, the old
unicode_categories crate for Mn/P*/C*, unicode-normalization for NFD); Python 3.11 ships 14.0. The
few hundred code points where they disagree (characters added after the crate's tables, a few
category changes) are listed in tools/unicode_hf_compat.txt, which --probe rebuilds from the output
of tests/fixtures/wordpiece/probe_unicode.mjs (the reference run on every code point). The FNV-1a
hash of that probe output is kept, so test_wordpiece can check the C tables against it exhaustively.
"""
import os
import sys
import unicodedata as ud

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, 'tools', 'unicode_hf_compat.txt')
OUT = os.path.join(ROOT, 'src', 'data', 'unicode_data.h')

REMOVE, SPACE, PUNCT, CJK, MN, LOWER, DECOMP, CCC = (1 << i for i in range(8))
NCP = 0x110000
SBASE, SCOUNT = 0xAC00, 11172

WHITE_SPACE = set(range(0x9, 0xE)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} \
    | set(range(0x2000, 0x200B))
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


class Props:
    """Per code point properties, from unicodedata, before the compat list."""

    def __init__(self):
        self.remove, self.space, self.punct, self.cjk, self.mn = (bytearray(NCP) for _ in range(5))
        self.lower, self.decomp, self.ccc = {}, {}, {}
        for cp in range(NCP):
            if is_surrogate(cp):
                continue
            ch = chr(cp)
            cat = ud.category(ch)
            self.remove[cp] = (cp in (0, 0xFFFD) or cat in ('Cc', 'Cf', 'Co')) and cp not in (9, 10, 13)
            self.space[cp] = cp in WHITE_SPACE
            self.punct[cp] = (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
                              or cat.startswith('P'))
            self.cjk[cp] = any(a <= cp <= b for a, b in CJK_RANGES)
            self.mn[cp] = cat == 'Mn'
            low = ch.lower()
            if low != ch:
                self.lower[cp] = [ord(c) for c in low]
            d = ud.normalize('NFD', ch)
            if d != ch:
                self.decomp[cp] = [ord(c) for c in d]
            if ud.combining(ch):
                self.ccc[cp] = ud.combining(ch)

    def strip(self, cp):
        return [d for d in self.decomp.get(cp, [cp]) if not self.mn[d]]

    def apply(self, compat):
        for cp, field, val in compat:
            table = getattr(self, field)
            if field not in ('lower', 'decomp'):
                table[cp] = val
            elif val == [cp]:
                table.pop(cp, None)
            else:
                table[cp] = val


# ---- the probe: what the reference does with each code point ------------------------------------

def hexs(cps):
    return ','.join('%x' % c for c in cps)


def unhex(s):
    return [int(x, 16) for x in s.split(',')] if s else []


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def probe_line(p, cp):
    """The probe's line for cp as the tables predict it (None when all properties are trivial).
    Mirrors probe_unicode.mjs; test_wordpiece.c builds the same text from the C tables."""
    f = []
    if p.remove[cp]:
        f.append('C=')
    elif p.space[cp] and cp != 0x20:
        f.append('C=20')
    if p.cjk[cp]:
        f.append('K')
    s = p.strip(cp)
    if s != [cp]:
        f.append('S=' + hexs(s))
    low = p.lower.get(cp, [cp])
    if low != [cp]:
        f.append('L=' + hexs(low))
    if p.space[cp]:
        f.append('P=2')
    elif p.punct[cp]:
        f.append('P=3')
    return '%x %s' % (cp, ' '.join(f)) if f else None


def read_probe(path):
    ref = {}
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            fields = {}
            for x in parts[1:]:
                k, _, v = x.partition('=')
                fields[k] = v
            ref[int(parts[0], 16)] = fields
    return ref


def derive_compat(p, ref):
    """The (cp, field, value) overrides that make the tables agree with the probe."""
    out = []

    def set_flag(cp, name, val):
        if getattr(p, name)[cp] != val:
            out.append((cp, name, val))

    for cp in range(NCP):
        if is_surrogate(cp):
            continue
        r = ref.get(cp, {})
        c = r.get('C')
        set_flag(cp, 'remove', int(c == ''))
        pre = r.get('P', '1')
        set_flag(cp, 'space', int(pre == '2'))
        set_flag(cp, 'punct', int(pre == '3'))
        set_flag(cp, 'cjk', int('K' in r))
        low = unhex(r['L']) if 'L' in r else [cp]
        if p.lower.get(cp, [cp]) != low:
            out.append((cp, 'lower', low))
        # Strip: a lone mark the reference keeps (or drops) is an Mn flag difference; anything
        # else is a decomposition difference.
        s = r.get('S')
        if cp not in p.decomp:
            if s == '':
                set_flag(cp, 'mn', 1)
            elif s is None:
                set_flag(cp, 'mn', 0)
    p.apply(out)
    for cp in range(NCP):
        if is_surrogate(cp):
            continue
        s = ref.get(cp, {}).get('S')
        want = unhex(s) if s is not None else [cp]
        if p.strip(cp) != want:
            if any(p.mn[d] for d in want):
                sys.exit('gen_unicode: cannot express the reference strip of U+%04X' % cp)
            out.append((cp, 'decomp', want))
            p.apply([out[-1]])
    return out


def write_compat(compat, probe_hash):
    with open(COMPAT, 'w') as fh:
        fh.write('# Where Hugging Face tokenizers (Rust) differs from Python %s unicodedata; written by\n'
                 '# tools/gen_unicode.py --probe from tests/fixtures/wordpiece/probe_unicode.mjs output.\n'
                 '# code point, field, value (flags 0/1; lower/decomp: code points, "-" for none).\n'
                 'probe-fnv1a64 %016x\n' % (ud.unidata_version, probe_hash))
        for cp, field, val in compat:
            v = (hexs(val) if val else '-') if isinstance(val, list) else str(int(val))
            fh.write('%04x %s %s\n' % (cp, field, v))


def read_compat():
    compat, probe_hash = [], None
    with open(COMPAT) as fh:
        for line in fh:
            if line.startswith('#') or not line.strip():
                continue
            parts = line.split()
            if parts[0] == 'probe-fnv1a64':
                probe_hash = int(parts[1], 16)
                continue
            cp, field, v = int(parts[0], 16), parts[1], parts[2]
            if field in ('lower', 'decomp'):
                compat.append((cp, field, [] if v == '-' else unhex(v)))
            else:
                compat.append((cp, field, int(v)))
    return compat, probe_hash


# ---- C output -------------------------------------------------------------------------------------

def c_array(ctype, name, values, per_line=12, fmt='%d'):
    lines = []
    for i in range(0, len(values), per_line):
        lines.append('    ' + ', '.join(fmt % v for v in values[i:i + per_line]) + ',')
    # lt_uni_* arrays are read by the inline lookup in unicode.h; the rest stay file-local.
    storage = '' if name.startswith('lt_') else 'static '
    return '%sconst %s %s[%d] = {\n%s\n};\n' % (storage, ctype, name, len(values), '\n'.join(lines))


def generate(p, probe_hash):
    flags = bytearray(NCP)
    for cp in range(NCP):
        if is_surrogate(cp):
            continue
        f = 0
        f |= REMOVE if p.remove[cp] else 0
        f |= SPACE if p.space[cp] else 0
        f |= PUNCT if p.punct[cp] else 0
        f |= CJK if p.cjk[cp] else 0
        f |= MN if p.mn[cp] else 0
        f |= LOWER if cp in p.lower else 0
        f |= DECOMP if (cp in p.decomp or SBASE <= cp < SBASE + SCOUNT) else 0
        f |= CCC if cp in p.ccc else 0
        flags[cp] = f
    # Two-level table: 256-code-point blocks, deduplicated.
    blocks, index, stage1 = [], {}, []
    for b in range(NCP // 256):
        blk = bytes(flags[b * 256:(b + 1) * 256])
        if blk not in index:
            index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(index[blk])
    assert len(blocks) <= 256 and stage1[0] == 0

    lows = sorted(p.lower.items())
    multi = [cp for cp, v in lows if len(v) != 1]
    assert multi == [0x130], 'only U+0130 lowercases to two characters: %r' % multi
    lows = [(cp, v[0]) for cp, v in lows if len(v) == 1]

    decs = sorted((cp, d) for cp, d in p.decomp.items() if not SBASE <= cp < SBASE + SCOUNT)
    pool, dec_key, dec_val = [], [], []
    for cp, d in decs:
        assert 1 <= len(d) <= 4 and len(pool) < (1 << 13)
        dec_key.append(cp)
        dec_val.append(len(pool) << 3 | len(d))
        pool.extend(d)
    # Combining classes of the marks that survive accent stripping (the others are dropped, so
    # only "is it 0" matters for them, and the CCC flag says that).
    kept = sorted((cp, c) for cp, c in p.ccc.items() if not p.mn[cp])

    out = ['/* Generated by tools/gen_unicode.py from Python %s unicodedata and tools/unicode_hf_compat.txt.\n'
           ' * Do not edit. */\n' % ud.unidata_version,
           '#define LT_UNI_PROBE_FNV1A64 0x%016xULL\n' % (probe_hash or 0),
           '#define LT_UNI_NBLOCKS %d\n\n' % len(blocks),
           c_array('uint8_t', 'lt_uni_stage1', stage1, 24),
           c_array('uint8_t', 'lt_uni_stage2', list(b''.join(blocks)), 32),
           c_array('uint32_t', 'uni_lower_key', [c for c, _ in lows], 10, '0x%05x'),
           c_array('uint32_t', 'uni_lower_val', [v for _, v in lows], 10, '0x%05x'),
           c_array('uint32_t', 'uni_decomp_key', dec_key, 10, '0x%05x'),
           c_array('uint16_t', 'uni_decomp_val', dec_val, 12, '0x%04x'),
           c_array('uint32_t', 'uni_decomp_pool', pool, 10, '0x%05x'),
           c_array('uint32_t', 'uni_ccc_key', [c for c, _ in kept], 10, '0x%05x'),
           c_array('uint8_t', 'uni_ccc_val', [v for _, v in kept], 16)]
    with open(OUT, 'w') as fh:
        fh.write('\n'.join(out))
    print('gen_unicode: %d blocks, %d lowercase, %d decompositions (%d pool), %d kept marks -> %s'
          % (len(blocks), len(lows), len(decs), len(pool), len(kept), os.path.relpath(OUT, ROOT)))


def main():
    p = Props()
    if len(sys.argv) == 3 and sys.argv[1] == '--probe':
        with open(sys.argv[2], 'rb') as fh:
            probe_hash = fnv1a64(fh.read())
        compat = derive_compat(p, read_probe(sys.argv[2]))
        write_compat(compat, probe_hash)
        print('gen_unicode: %d compat entries -> %s' % (len(compat), os.path.relpath(COMPAT, ROOT)))
    elif len(sys.argv) == 1:
        compat, probe_hash = read_compat()
        p.apply(compat)
    else:
        sys.exit(__doc__)
    # The tables must reproduce the probe (when it was given, byte for byte).
    lines = [probe_line(p, cp) for cp in range(NCP) if not is_surrogate(cp)]
    text = ''.join(l + '\n' for l in lines if l).encode()
    if probe_hash is not None and fnv1a64(text) != probe_hash:
        sys.exit('gen_unicode: the tables do not reproduce the probe (hash mismatch)')
    generate(p, probe_hash)


if __name__ == '__main__':
    main()
