"""`make --roster`: one key, worksheet and template per student, each a variant of its own."""

from __future__ import annotations

from pathlib import Path

from backprop_cli.course import make as mk

from .conftest import invoke


def test_each_student_gets_their_own_variant(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("name,Email\nAda,ada@uni.test\nBob,bob@uni.test\n,\n", encoding="utf-8")
    r = invoke("make", "mul", "--seed", "3", "--roster", str(roster),
               "-o", str(tmp_path / "keys" / "{id}.toml"),
               "--worksheet", str(tmp_path / "sheets" / "{id}.html"))
    assert r.code == 0, r.stderr
    for ident in ("ada@uni.test", "bob@uni.test"):
        key = (tmp_path / "keys" / f"{ident}.toml").read_text(encoding="utf-8")
        (made,) = mk.make("mul", seed=3, variant=ident)
        assert f"--variant {ident}" in key and mk.written(made.draft.at["x"]) in key
        assert (tmp_path / "sheets" / f"{ident}.html").exists()
    assert len(list((tmp_path / "keys").iterdir())) == 2  # the blank row is skipped


def test_an_id_cannot_leave_its_folder(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id\n../../evil\n", encoding="utf-8")
    r = invoke("make", "--roster", str(roster), "-o", str(tmp_path / "keys" / "{id}.toml"))
    assert r.code == 0, r.stderr
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["_.._evil.toml"]


def test_outputs_without_id_and_repeated_ids_are_refused(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id\ns1\n", encoding="utf-8")
    r = invoke("make", "--roster", str(roster), "-o", str(tmp_path / "key.toml"))
    assert r.code == 2 and "put {id} in it" in r.stderr
    roster.write_text("id\ns1\ns1\n", encoding="utf-8")
    r = invoke("make", "--roster", str(roster), "-o", str(tmp_path / "{id}.toml"))
    assert r.code == 2 and "twice" in r.stderr
