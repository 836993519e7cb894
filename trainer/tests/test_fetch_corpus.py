"""The registry prose pipeline on small hand-built archives: no network.
Each archive format is built here byte by byte the way its package ships it
(.deb = ar + data.tar.xz, R's lazy-load database, SWORD zText), so the
extractors are tested on the real layouts, not on their own output."""
from __future__ import annotations

import io
import json
import lzma
import os
import struct
import tarfile
import zlib

import pytest

import arianna_data as D
import fetch_corpus as F


def tar_bytes(files: dict, mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def deb_bytes(files: dict) -> bytes:
    """An ar archive as dpkg writes it: debian-binary, control, data.tar.xz."""
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", lzma.compress(tar_bytes({}))),
               ("data.tar.xz", lzma.compress(tar_bytes({"./" + k: v for k, v in files.items()})))]
    out = b"!<arch>\n"
    for name, body in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        if len(body) & 1:
            out += b"\n"
    return out


def r_xdr_strings(lines) -> bytes:
    """R's serialize(x, version = 3) of a character vector (NA as None)."""
    out = b"X\n" + struct.pack(">iii", 3, 0x040201, 0x030500) + struct.pack(">i", 5) + b"UTF-8"
    out += struct.pack(">ii", 16, len(lines))
    for s in lines:
        if s is None:
            out += struct.pack(">ii", 9, -1)
        else:
            b = s.encode()
            out += struct.pack(">ii", 0x00040009, len(b)) + b
    return out


def test_a_deb_archive_yields_its_data_files():
    files = F.deb_members(deb_bytes({"usr/share/x/data.txt": b"hello"}))
    assert files == {"usr/share/x/data.txt": b"hello"}


def test_a_package_whose_checksum_differs_is_refused_before_it_is_read(tmp_path):
    pkg = F.PACKAGES["fortunes"]
    (tmp_path / pkg.filename).write_bytes(b"not the package")
    with pytest.raises(SystemExit, match="sha256"):
        F.fetch_package(pkg, str(tmp_path))


def test_every_pinned_package_has_a_sha256_and_a_licence():
    for name, pkg in F.PACKAGES.items():
        assert len(pkg.sha256) == 64 and pkg.licence, name
    assert {s.package for s in F.SOURCES.values()} <= set(F.PACKAGES)


def test_gutenberg_headers_and_licence_are_stripped():
    text = ("The Project Gutenberg EBook of X\n\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n"
            "Produced by Someone\n\nOnce there was a little yellow tulip who lived under the ground.\n\n"
            "*** END OF THE PROJECT GUTENBERG EBOOK X ***\n\nSection 1. General Terms of Use")
    paras = F.paragraphs(F.strip_gutenberg(text))
    assert paras == ["Once there was a little yellow tulip who lived under the ground."]


def test_paragraphs_drop_headings_short_lines_and_italics_marks():
    text = "CHAPTER I\n\nTHE LITTLE RED HEN\n\nShe said, _tap, tap,_ at the\ndoor of the little house.\n\nXI."
    assert F.paragraphs(text) == ["She said, tap, tap, at the door of the little house."]


def test_a_flattened_book_is_cut_back_into_paragraphs():
    line = ("     Produced by A Volunteer      A BOOK  By Someone    Chapter 1   It is a truth that "
            "small things matter, and everyone who has kept a garden knows it well enough.  She "
            "smiled.   \"Is it so?\" said he, looking at the long row of beans in the evening light.")
    paras = F.flattened_paragraphs(line)
    assert paras and all("Produced by" not in p for p in paras)
    assert any("It is a truth that small things matter" in p for p in paras)


def test_an_r_character_vector_is_read_with_its_missing_values():
    assert F.r_strings(r_xdr_strings(["EMMA", None, "Emma Woodhouse, handsome"])) == \
        ["EMMA", "", "Emma Woodhouse, handsome"]
    with pytest.raises(ValueError):
        F.r_strings(b"X\n" + struct.pack(">iii", 2, 0, 0) + struct.pack(">ii", 14, 1))


def test_janeaustenr_lazy_load_database_gives_one_book_per_object():
    novels = [["PERSUASION", "", "Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man",
               "who, for his own amusement, never took up any book but the Baronetage."],
              ["EMMA", "", "Emma Woodhouse, handsome, clever, and rich, with a comfortable home",
               "and happy disposition, seemed to unite some of the best blessings."]]
    rdb = b""
    for lines in novels:
        ser = r_xdr_strings(lines)
        rdb += struct.pack(">I", len(ser)) + zlib.compress(ser)
    books = F.janeaustenr({"usr/lib/R/site-library/janeaustenr/data/Rdata.rdb": rdb})
    assert [b for b, _ in books] == ["austen-persuasion", "austen-emma"]
    assert books[1][1] == ["Emma Woodhouse, handsome, clever, and rich, with a comfortable home and "
                           "happy disposition, seemed to unite some of the best blessings."]


def test_sword_ztext_verses_lose_markup_and_footnotes():
    verses = [b'<chapter osisID="Gen.1"/>',
              b'<w>In the beginning, God created the heavens and the earth.</w> ',
              b'The earth was formless and empty.<note type="x">Or, void</note> ',
              b'<chapter osisID="Gen.2"/>', b'The heavens and the earth were finished, and all their army.']
    block = b"".join(verses)
    bzz = zlib.compress(block)
    bzs = struct.pack("<III", 0, len(bzz), len(block))
    bzv, off = b"", 0
    for v in verses:
        bzv += struct.pack("<IIH", 0, off, len(v))
        off += len(v)
    base = "usr/share/sword/modules/texts/ztext/engWEB2015eb/"
    files = {}
    for t in ("ot", "nt"):
        files.update({base + f"{t}.bzs": bzs, base + f"{t}.bzz": bzz, base + f"{t}.bzv": bzv})
    ot = dict(F.web_bible(files))["web-ot"]
    assert ot == ["In the beginning, God created the heavens and the earth. The earth was formless and empty.",
                  "The heavens and the earth were finished, and all their army."]


def test_fortune_entries_lose_their_attributions():
    text = b"Be kind whenever possible. It is always possible.\n\t\t-- Someone\n%\nShort.\n%\n"
    books = F.fortune_files({"usr/share/games/fortunes/wisdom": text,
                             "usr/share/games/fortunes/wisdom.dat": b"\0"}, "usr/share/games/fortunes/")
    assert books == [("wisdom", ["Be kind whenever possible. It is always possible."])]


def test_the_mix_is_deduplicated_and_holds_out_each_books_last_paragraphs(tmp_path):
    book = [f"Paragraph number {i} of a long and simple story about a garden." for i in range(200)]
    books = {"a": [("book-a", book)], "b": [("book-b", book[:5] + ["Only in b, a sentence of its own here."])]}
    mix = F.build_mix(books, {"a": 0, "b": 0})
    assert len(mix["a"]["test"]) == 4 and len(mix["a"]["val"]) == 2
    assert mix["a"]["test"] == book[-4:] and not set(mix["a"]["test"]) & set(mix["a"]["train"])
    assert mix["b"]["train"] == ["Only in b, a sentence of its own here."]  # the rest were duplicates
    capped = F.build_mix({"a": [("book-a", book)]}, {"a": 2000})["a"]["train"]
    assert 0 < sum(len(p) + 2 for p in capped) <= 2000 and capped[0] == book[0]

    pk = {s: {"registry": "npm", "package": s, "version": "1", "sha256": "0" * 64, "licence": "MIT"}
          for s in ("a", "b")}
    F.SOURCES.setdefault("a", F.Source("a", None, 0, "test a"))
    F.SOURCES.setdefault("b", F.Source("b", None, 0, "test b"))
    try:
        man = F.write_mix(mix, books, str(tmp_path), pk)
    finally:
        del F.SOURCES["a"], F.SOURCES["b"]
    on_disk = json.loads((tmp_path / "corpus.json").read_text())
    assert on_disk == man and {s["licence"] for s in man["sources"]} == {"MIT"}
    assert (tmp_path / "mix" / "a.test.txt").read_text().split("\n\n")[0] == book[-4]

    docs = D.prose_documents(str(tmp_path / "mix"), "train")
    assert sum(d.count("Paragraph number") for d in docs) == len(mix["a"]["train"])
    replay = D.prose_documents(str(tmp_path / "mix"), "train", max_bytes=4000)
    assert 0 < sum(len(d.encode()) for d in replay) < sum(len(d.encode()) for d in docs)
