"""The packaged PTB-XL SCP-ECG knowledge file and its loader."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import torch

from biomm.errors import InputError
from biomm.zeroshot import build_class_embeddings
from biomm.zeroshot.knowledge import (
    CATEGORIES,
    Knowledge,
    available_knowledge,
    load_knowledge,
)

# The statement flags of PTB-XL 1.0.3 scp_statements.csv (code, diagnostic, form, rhythm,
# diagnostic_class, diagnostic_subclass), written as the official file writes them.
SCP_STATEMENTS_CSV = """\
,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass
NDT,1.0,1.0,,STTC,STTC
NST_,1.0,1.0,,STTC,NST_
DIG,1.0,1.0,,STTC,STTC
LNGQT,1.0,1.0,,STTC,STTC
NORM,1.0,,,NORM,NORM
IMI,1.0,,,MI,IMI
ASMI,1.0,,,MI,AMI
LVH,1.0,,,HYP,LVH
LAFB,1.0,,,CD,LAFB/LPFB
ISC_,1.0,,,STTC,ISC_
IRBBB,1.0,,,CD,IRBBB
1AVB,1.0,,,CD,_AVB
IVCD,1.0,,,CD,IVCD
ISCAL,1.0,,,STTC,ISCA
CRBBB,1.0,,,CD,CRBBB
CLBBB,1.0,,,CD,CLBBB
ILMI,1.0,,,MI,IMI
LAO/LAE,1.0,,,HYP,LAO/LAE
AMI,1.0,,,MI,AMI
ALMI,1.0,,,MI,AMI
ISCIN,1.0,,,STTC,ISCI
INJAS,1.0,,,MI,AMI
LMI,1.0,,,MI,LMI
ISCIL,1.0,,,STTC,ISCI
LPFB,1.0,,,CD,LAFB/LPFB
ISCAS,1.0,,,STTC,ISCA
INJAL,1.0,,,MI,AMI
ISCLA,1.0,,,STTC,ISCA
RVH,1.0,,,HYP,RVH
ANEUR,1.0,,,STTC,STTC
RAO/RAE,1.0,,,HYP,RAO/RAE
EL,1.0,,,STTC,STTC
WPW,1.0,,,CD,WPW
ILBBB,1.0,,,CD,ILBBB
IPLMI,1.0,,,MI,IMI
ISCAN,1.0,,,STTC,ISCA
IPMI,1.0,,,MI,IMI
SEHYP,1.0,,,HYP,SEHYP
INJIN,1.0,,,MI,IMI
INJLA,1.0,,,MI,AMI
PMI,1.0,,,MI,PMI
3AVB,1.0,,,CD,_AVB
INJIL,1.0,,,MI,IMI
2AVB,1.0,,,CD,_AVB
ABQRS,,1.0,,,
PVC,,1.0,,,
STD_,,1.0,,,
VCLVH,,1.0,,,
QWAVE,,1.0,,,
LOWT,,1.0,,,
NT_,,1.0,,,
PAC,,1.0,,,
LPR,,1.0,,,
INVT,,1.0,,,
LVOLT,,1.0,,,
HVOLT,,1.0,,,
TAB_,,1.0,,,
STE_,,1.0,,,
PRC(S),,1.0,,,
SR,,,1.0,,
AFIB,,,1.0,,
STACH,,,1.0,,
SARRH,,,1.0,,
SBRAD,,,1.0,,
PACE,,,1.0,,
SVARR,,,1.0,,
BIGU,,,1.0,,
AFLT,,,1.0,,
SVTAC,,,1.0,,
PSVT,,,1.0,,
TRIGU,,,1.0,,
"""


@pytest.fixture(scope="module")
def statements() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(SCP_STATEMENTS_CSV), index_col=0)


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return load_knowledge("ptbxl_scp")


def _flags(statements: pd.DataFrame, code: str) -> set[str]:
    row = statements.loc[code]
    return {c for c in ("diagnostic", "form", "rhythm") if row[c] == 1}


def test_fixture_has_the_official_counts(statements: pd.DataFrame) -> None:
    assert len(statements) == 71
    assert (statements["diagnostic"] == 1).sum() == 44
    assert (statements["form"] == 1).sum() == 19
    assert (statements["rhythm"] == 1).sum() == 12
    both = statements[(statements["diagnostic"] == 1) & (statements["form"] == 1)]
    assert sorted(both.index) == ["DIG", "LNGQT", "NDT", "NST_"]


def test_every_code_is_present_with_matching_categories(
    kb: Knowledge, statements: pd.DataFrame
) -> None:
    statement_codes = [c for c in kb.entries if set(kb[c].categories) & {"diagnostic", "form",
                                                                         "rhythm"}]  # fmt: skip
    assert sorted(statement_codes) == sorted(statements.index)
    for code in statements.index:
        categories = set(kb[code].categories) & {"diagnostic", "form", "rhythm"}
        assert categories == _flags(statements, code), code
    assert len(kb.codes("diagnostic")) == 44
    assert len(kb.codes("form")) == 19
    assert len(kb.codes("rhythm")) == 12
    assert kb["NDT"].category == "diagnostic" and kb["NDT"].categories == ("diagnostic", "form")


def test_superclasses_and_subclasses_are_covered(kb: Knowledge, statements: pd.DataFrame) -> None:
    diagnostic = statements[statements["diagnostic"] == 1]
    assert sorted(kb.codes("superclass")) == sorted(diagnostic["diagnostic_class"].unique())
    assert sorted(kb.codes("subclass")) == sorted(diagnostic["diagnostic_subclass"].unique())
    assert len(kb.codes("subclass")) == 23


def test_descriptions_are_short_distinct_and_not_the_name(kb: Knowledge) -> None:
    for code, entry in kb.entries.items():
        assert 2 <= len(entry.descriptions) <= 4, code
        assert len(set(entry.descriptions)) == len(entry.descriptions), code
        for text in entry.descriptions:
            assert 10 <= len(text) <= 120, (code, text)
            assert text.lower() != entry.name.lower(), code
        assert entry.category in CATEGORIES and entry.name


def test_file_metadata(kb: Knowledge) -> None:
    assert kb.version == "1.0"
    assert "PTB-XL" in kb.source
    assert "original biomm wording" in kb.licence
    assert available_knowledge() == ["ptbxl_scp"]
    assert kb.path.endswith("ptbxl_scp.yaml")


def test_names_and_descriptions(kb: Knowledge) -> None:
    assert kb.names(["AFIB", "SR"]) == ["atrial fibrillation", "sinus rhythm"]
    by_code = kb.descriptions(["AFIB", "CLBBB"])
    assert list(by_code) == ["AFIB", "CLBBB"] and len(by_code["CLBBB"]) == 3
    by_name = kb.descriptions(["AFIB"], by_name=True)
    assert by_name == {"atrial fibrillation": by_code["AFIB"]}
    assert kb.descriptions("SR") == {"SR": list(kb["SR"].descriptions)}


def test_unknown_code_lists_close_matches(kb: Knowledge) -> None:
    with pytest.raises(InputError, match=r"unknown code\(s\): 'AFIBB' \(did you mean AFIB"):
        kb.names(["AFIBB"])
    with pytest.raises(InputError, match=r"'stach' \(did you mean STACH"):
        kb.descriptions(["SR", "stach"])
    with pytest.raises(InputError, match=r"ptbxl_scp\.yaml: unknown code"):
        kb["nonsense-code"]
    with pytest.raises(InputError, match="unknown category"):
        kb.codes("morphology")


def test_descriptions_feed_the_zero_shot_classifier(kb: Knowledge) -> None:
    seen: list[str] = []

    def encode(texts: list[str]) -> torch.Tensor:
        seen.extend(texts)
        return torch.tensor([[float(len(t)), 1.0] for t in texts])

    codes = ["AFIB", "SR"]
    emb = build_class_embeddings(encode, codes, ["{}"], descriptions=kb.descriptions(codes))
    assert emb.shape == (2, 2)
    assert kb["AFIB"].descriptions[0] in seen


# ---- loading other files, validation --------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
version: 2
source: test
licence: original
entries:
  X1: {name: thing one, category: rhythm, descriptions: [first finding]}
  X2: {name: thing two, category: [diagnostic, form], descriptions: [a, b]}
"""


def test_load_from_path(tmp_path: Path) -> None:
    kb = load_knowledge(_write(tmp_path, GOOD))
    assert kb.version == "2" and list(kb.entries) == ["X1", "X2"]
    assert kb["X2"].categories == ("diagnostic", "form")
    assert load_knowledge(str(tmp_path / "kb.yaml")).names(["X1"]) == ["thing one"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("version: 2\n", ""), "top-level 'version' is missing"),
        (GOOD.replace("descriptions: [first finding]", "descriptions: []"),
         "entry 'X1': needs at least one description"),
        (GOOD.replace("category: rhythm", "category: rhythmic"), "entry 'X1': unknown category"),
        (GOOD.replace("name: thing one, ", ""), "entry 'X1': 'name' must be a non-empty text"),
        (GOOD.replace("descriptions: [a, b]", "descriptions: [a, '']"),
         "entry 'X2': every description must be a non-empty text"),
        (GOOD.replace("name: thing one", "name: x, colour: red"), r"unknown key\(s\) \['colour'\]"),
        ("version: 1\nsource: s\nlicence: l\nentries: {}\n", "'entries' must be a non-empty"),
        ("- a\n- b\n", "a knowledge file is a mapping"),
        ("version: [unclosed\n", "invalid YAML"),
    ],
)  # fmt: skip
def test_invalid_files_name_the_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        load_knowledge(path)
    assert info.value.path == str(path)


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no packaged knowledge file of that name; available: "):
        load_knowledge("ptbxl")
    with pytest.raises(InputError, match="knowledge file not found"):
        load_knowledge(tmp_path / "absent.yaml")
