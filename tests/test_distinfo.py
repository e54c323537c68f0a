"""The shared dist-info reader."""

from __future__ import annotations

from fcslim.dists import inside_tree, read_metadata, read_record


def test_record_honours_csv_quoting_and_normalises(tmp_path):
    info = tmp_path / "odd-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(
        'odd/__init__.py,sha256=abc,10\n'
        '"odd/data, with comma.txt",sha256=def,3\n'
        'odd/./sub/../mod.py,,\n'
        '../../bin/odd-tool,sha256=x,1\n'
        'odd-1.0.dist-info/RECORD,,\n'
    )
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Odd\nVersion: 1.0\n\nbody: not a header\n")
    paths = read_record(info)
    assert paths == ["odd/__init__.py", "odd/data, with comma.txt", "odd/mod.py", "../../bin/odd-tool",
                     "odd-1.0.dist-info/RECORD"]
    assert [p for p in paths if not inside_tree(p)] == ["../../bin/odd-tool"]
    meta = read_metadata(info)
    assert meta["Name"] == "Odd" and meta["Version"] == "1.0" and meta.get("body") is None


def test_missing_record_is_none_not_empty(tmp_path):
    info = tmp_path / "gone-1.0.dist-info"
    info.mkdir()
    assert read_record(info) is None
    assert read_metadata(info).get("Name") is None
