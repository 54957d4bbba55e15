"""Imports: files parsed once, shared problems reported once, cycles, the library root,
duplicates across files, display paths, and attributes borrowed from the importer."""

from __future__ import annotations

from pathlib import Path

import pytest
from checker_support import POPULATION, check, found, write

from strategy_dsl import library as library_module
from strategy_dsl.checker import check_paths

HEADER = 'strategy "示例" {\n  horizon 12 months\n}\n'
CHANNEL = "channel 短信 {\n  cost 0.05 per contact\n}\n"


def test_duplicate_across_files_points_at_both(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        'import "common/a.strat"\nsegment 银发 = age >= 65\n',
        {"common/a.strat": "segment 银发 = age >= 60\n"},
    )
    assert found(report) == [("E0201", 2, 9)]
    (related,) = report.diagnostics[0].related
    assert (related.span.file, related.span.line, related.span.column) == ("common/a.strat", 1, 9)


def test_duplicate_between_two_imports(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        'import "a.strat"\nimport "b.strat"\n',
        {"a.strat": "segment 银发 = age >= 60\n", "b.strat": "segment 银发 = age >= 65\n"},
    )
    assert [(d.code, d.span.file) for d in report.diagnostics] == [("E0201", "b.strat")]


def test_shared_file_parsed_once_and_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        {
            "a.strat": 'import "common/shared.strat"\nsegment A = has_sms\n',
            "b.strat": 'import "common/shared.strat"\nsegment B = has_sms\n',
            "common/shared.strat": "channel 短信 {\n  cost 8 per contact\n  reach 145%\n}\n",
        },
    )
    parsed: list[str] = []
    real = library_module.parse_text

    def counting(text: str, path: str):
        parsed.append(path)
        return real(text, path)

    monkeypatch.setattr(library_module, "parse_text", counting)
    monkeypatch.chdir(tmp_path)
    report = check_paths([Path("a.strat"), Path("b.strat"), Path("common")])
    assert sorted(parsed) == ["a.strat", "b.strat", "common/shared.strat"]
    assert [(d.code, d.span.file) for d in report.diagnostics] == [("E0304", "common/shared.strat")]
    assert report.files == ["a.strat", "common/shared.strat", "b.strat"]
    assert "common/shared.strat" in report.sources


def test_cycle_lists_the_chain_with_related_spans(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        'import "a.strat"\n',
        {"a.strat": 'import "b.strat"\n', "b.strat": '\n\nimport "a.strat"\n'},
    )
    (cycle,) = report.diagnostics
    assert (cycle.code, cycle.span.file, cycle.span.line) == ("E0102", "b.strat", 3)
    assert "a.strat → b.strat → a.strat" in cycle.message
    assert [(r.span.file, r.span.line) for r in cycle.related] == [("a.strat", 1)]
    assert report.models == {}


def test_self_import_is_a_cycle(tmp_path: Path) -> None:
    report = check(tmp_path, 'import "main.strat"\n')
    assert found(report) == [("E0102", 1, 8)]


def test_missing_import_suggests_near_miss_file(tmp_path: Path) -> None:
    report = check(tmp_path, 'import "common/chanels.strat"\n', {"common/channels.strat": CHANNEL})
    (missing,) = report.diagnostics
    assert missing.code == "E0101"
    assert 'import "common/channels.strat"' in (missing.hint or "")


def test_import_of_a_folder_is_not_found(tmp_path: Path) -> None:
    report = check(tmp_path, 'import "common"\n', {"common/channels.strat": CHANNEL})
    assert found(report) == [("E0101", 1, 8)]


def test_root_is_the_directory_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        {
            "lib/campaigns/x.strat": 'import "../common/channels.strat"\n',
            "lib/common/channels.strat": CHANNEL,
        },
    )
    monkeypatch.chdir(tmp_path)
    # Given the library folder: the import stays inside it.
    assert check_paths([Path("lib")]).diagnostics == []
    # Given the file alone: its own folder is the root, and `..` leaves it.
    report = check_paths([Path("lib/campaigns/x.strat")])
    assert [d.code for d in report.diagnostics] == ["E0103"]
    # An explicit root wins.
    assert check_paths([Path("lib/campaigns/x.strat")], root=Path("lib")).diagnostics == []


def test_symlink_out_of_the_root_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"outside/secret.strat": CHANNEL, "lib/main.strat": 'import "link.strat"\n'})
    (tmp_path / "lib" / "link.strat").symlink_to(tmp_path / "outside" / "secret.strat")
    monkeypatch.chdir(tmp_path)
    report = check_paths([Path("lib")])
    assert [(d.code, d.span.file) for d in report.diagnostics] == [("E0103", "lib/main.strat")]


def test_directories_skip_hidden_folders_and_display_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        {
            "lib/b.strat": CHANNEL,
            "lib/a.strat": "segment 银发 = age >= 60\n",
            "lib/.git/x.strat": "this is not parsed",
            "lib/sub/c.strat": "segment 老 = age >= 70\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    report = check_paths([Path("lib")])
    assert report.diagnostics == []
    assert report.files == ["lib/a.strat", "lib/b.strat", "lib/sub/c.strat"]
    assert sorted(report.models) == report.files
    outside = check_paths([tmp_path / "lib" / "a.strat"])
    assert outside.files == ["lib/a.strat"]


def test_absolute_display_outside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"lib/a.strat": CHANNEL, "elsewhere/.keep": ""})
    monkeypatch.chdir(tmp_path / "elsewhere")
    report = check_paths([tmp_path / "lib" / "a.strat"])
    assert report.files == [(tmp_path / "lib" / "a.strat").as_posix()]


def test_library_borrows_the_importers_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = "channel APP推送 {\n  cost 0.02 per contact\n  requires has_app and not 冻结\n}\n"
    # On its own the library cannot know the population's attributes: nothing is reported.
    write(tmp_path, {"common/channels.strat": library})
    monkeypatch.chdir(tmp_path)
    assert check_paths([Path("common")]).diagnostics == []
    # Imported by a strategy whose population lacks one of them, that one is reported, once,
    # at the library's line, however many strategies import it.
    user = POPULATION + 'import "common/channels.strat"\nsegment 用 = has_app\n'
    write(tmp_path, {"a.strat": user, "b.strat": user})
    report = check_paths([Path("a.strat"), Path("b.strat")])
    assert [(d.code, d.span.file, d.span.line, d.span.column) for d in report.diagnostics] == [
        ("E0204", "common/channels.strat", 3, 28)
    ]


def test_library_attribute_of_the_wrong_type(tmp_path: Path) -> None:
    library = "segment 有钱 = has_app >= 5万\n"
    report = check(tmp_path, POPULATION + 'import "lib.strat"\n', {"lib.strat": library})
    assert [(d.code, d.span.file) for d in report.diagnostics] == [("E0309", "lib.strat")]


def test_header_in_an_import_is_a_second_header(tmp_path: Path) -> None:
    report = check(tmp_path, HEADER + 'import "b.strat"\n', {"b.strat": HEADER})
    assert [(d.code, d.span.file) for d in report.diagnostics] == [("E0409", "main.strat")]


def test_unreadable_entry_is_a_diagnostic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = check_paths([Path("missing.strat")])
    assert [d.code for d in report.diagnostics] == ["E0008"]
    assert report.models == {}


def test_import_used_through_a_transitive_import_is_used(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        HEADER + 'import "a.strat"\nsegment 用 = 银发\n'
        "rule R {\n  when 用\n  offer P via 短信\n  response 1%\n}\n"
        "product P {\n  kind deposit\n  risk R1\n}\n",
        {"a.strat": 'import "b.strat"\n' + CHANNEL, "b.strat": "segment 银发 = age >= 60\n"},
    )
    assert report.diagnostics == []


def test_diamond_imports_count_shared_blocks_once(tmp_path: Path) -> None:
    base = "policy {\n  control 10%\n}\nproduct P {\n  kind wealth\n  risk R1\n}\n"
    report = check(
        tmp_path,
        HEADER + 'import "a.strat"\nimport "b.strat"\n'
        "rule R {\n  when 老\n  offer P via 短信\n  response 1%\n}\n",
        {
            "a.strat": 'import "base.strat"\nsegment 老 = age > 60\n',
            "b.strat": 'import "base.strat"\n' + CHANNEL,
            "base.strat": base,
        },
    )
    assert report.diagnostics == []
    (model,) = report.models.values()
    assert model.source_files == ("base.strat", "a.strat", "b.strat", "main.strat")
    assert model.policy.control == 0.1
