# kjv_data.py: extracts the King James Bible from Debian's bible-kjv package as plain prose (one
# paragraph per chapter) and splits it deterministically into training and held-out chapters.
import re
import subprocess

# Every 40th chapter (1-based chapter counts 40, 80, ...) is held out: spread over the whole book
# so the held-out text has the same mix of law, poetry, prophecy and letters as the training text.
HELDOUT_EVERY = 40
VERSE_RE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")
FULL_RANGE = "Gen1:1-Rev22:21"
KJV_VERSES = 31102  # verse count of the KJV; a shorter extraction means `bible` lost text


def read_chapters(bible_cmd="bible"):
    """Returns [(reference, text)] for all 1189 chapters, verses joined by single spaces."""
    # -f prints one verse per line as "Ge1:1 text" (no line wrapping), which is easy to parse.
    out = subprocess.run([bible_cmd, "-f", FULL_RANGE], check=True, capture_output=True,
                         text=True, encoding="ascii").stdout
    chapters, verses, current = [], 0, None
    for line in out.splitlines():
        if not line.strip():
            continue
        m = VERSE_RE.match(line)
        if not m:
            raise RuntimeError(f"bible output line not understood: {line[:80]!r}")
        key = f"{m.group(1)}{m.group(2)}"
        if key != current:
            chapters.append((key, []))
            current = key
        chapters[-1][1].append(" ".join(m.group(4).split()))
        verses += 1
    if verses != KJV_VERSES:
        raise RuntimeError(f"bible printed {verses} verses, expected {KJV_VERSES}")
    return [(key, " ".join(vs)) for key, vs in chapters]


def split_chapters(chapters):
    """(train_text, heldout_text, heldout_refs): chapters separated by blank lines."""
    train, held, refs = [], [], []
    for i, (key, text) in enumerate(chapters):
        if (i + 1) % HELDOUT_EVERY == 0:
            held.append(text)
            refs.append(key)
        else:
            train.append(text)
    return "\n\n".join(train) + "\n", "\n\n".join(held) + "\n", refs
