"""Every notebook is a Dutch lesson: learning goals, prior knowledge with a time, steps each followed by
"Zo lees je dit", 2-4 exercises with folded answers, key points, further reading, a link to the glossary;
and a student switches it to the synthetic study with one parameter."""
from __future__ import annotations

import re

import pytest

from jeugdhulp_wijken import lab, paths, pipeline, teaching

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))
SPEC = pipeline.load_spec()
STEPS_OF = {}
for _s in SPEC.steps:
    STEPS_OF.setdefault(_s.notebook.split("/")[-1], []).append(_s.name)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_the_lesson_skeleton(nb):
    heads = teaching.headings(nb)
    level2 = [t for lvl, t in heads if lvl == 2]
    present = [s for s in teaching.SKELETON if any(t == s for t in level2)]
    assert present == list(teaching.SKELETON), f"{nb.name}: sections {teaching.SKELETON}, found {level2}"
    order = [next(i for i, t in enumerate(level2) if t == s) for s in teaching.SKELETON]
    assert order == sorted(order), f"{nb.name}: the sections are out of order"
    # Leerdoelen and Voorkennis open the lesson; Probeer zelf, Kernpunten and Verder lezen close it
    steps = [t for t in level2 if t not in teaching.SKELETON]
    assert level2[:2] == ["Leerdoelen", "Voorkennis"] and level2[-3:] == ["Probeer zelf", "Kernpunten", "Verder lezen"]
    assert len(steps) >= 2, f"{nb.name}: a lesson has at least two steps"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_step_is_followed_by_zo_lees_je_dit(nb):
    heads = teaching.headings(nb)
    current, read = None, {}
    for level, text in heads:
        if level == 2:
            current = None if text in teaching.SKELETON else text
            if current:
                read[current] = False
        elif current and text == teaching.READING_AID:
            read[current] = True
    missing = [s for s, ok in read.items() if not ok]
    assert not missing, f"{nb.name}: steps without '### {teaching.READING_AID}': {missing}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_voorkennis_states_the_time_it_takes(nb):
    text = next(c for c in teaching.markdown_cells(nb) if re.search(r"^## Voorkennis", c, re.M))
    assert re.search(r"\d+\s*(tot|à|-|–)?\s*\d*\s*(minuten|uur)", text), f"{nb.name}: Voorkennis gives no time"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_two_to_four_exercises_each_with_a_folded_answer(nb):
    cell = next(c for c in teaching.markdown_cells(nb) if re.search(r"^## Probeer zelf", c, re.M))
    exercises = re.findall(r"^\d+\.\s", cell, re.M)
    assert 2 <= len(exercises) <= 4, f"{nb.name}: {len(exercises)} exercises"
    assert teaching.folded_answers(nb) == len(exercises), f"{nb.name}: every exercise has one folded answer"
    listed = [e.id for e in teaching.load_exercises() if e.notebook == nb.name]
    assert sorted(teaching.answers(nb)) == sorted(listed) and len(listed) == len(exercises), \
        f"{nb.name}: every answer carries its <!-- oefening: id --> marker and is checked (data/exercises.yml)"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_the_narrative_is_dutch(nb):
    """A simple, honest check: Dutch function words outnumber English ones in every prose cell of some
    length (code, identifiers in backticks, links and the reference list are left out)."""
    cells = [c for c in teaching.markdown_cells(nb) if not c.lstrip().startswith("## Verder lezen")]
    for cell in cells:
        nl, en, n = teaching.language_shares(cell)
        if n >= 12:
            assert nl >= 0.08 and nl > 3 * en, f"{nb.name}: not Dutch ({nl:.2f} Dutch, {en:.2f} English): {cell[:120]!r}"
    nl, en, n = teaching.language_shares("\n".join(cells))
    assert n > 400 and nl > 0.2 and en < 0.03, (nb.name, nl, en, n)


def test_the_language_check_tells_dutch_from_english():
    english = "This notebook builds the analysis table that every later step uses: one row per wijk of the file."
    dutch = "Dit notebook maakt de tabel die elke volgende stap gebruikt: één rij per wijk van het bestand."
    assert teaching.language_shares(english)[0] < 0.08 < teaching.language_shares(dutch)[0]
    assert teaching.language_shares(english)[1] > 3 * teaching.language_shares(dutch)[1]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_links_the_glossary(nb):
    assert any("(begrippenlijst.md)" in c for c in teaching.markdown_cells(nb)), nb.name
    assert (paths.NOTEBOOKS / "begrippenlijst.md").is_file()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameter_switches_to_the_synthetic_study(nb):
    """Folder parameters default to "" and the notebook fills them through lab.folders, so that a student
    who sets synthetic = True reads and writes the synthetic study's folders."""
    params = pipeline.notebook_parameters(nb)
    assert params.get("synthetic") is False, f"{nb.name}: needs the parameter synthetic = False"
    folders = [k for k in params if k.endswith(("_dir", "_root")) and k in lab.FILLED]
    assert folders, nb.name
    assert all(params[k] == "" for k in folders), f"{nb.name}: folder defaults must be \"\": " \
        f"{ {k: params[k] for k in folders if params[k] != ''} }"
    code = "\n".join("".join(c["source"]) for c in __import__("json").loads(nb.read_text())["cells"]
                     if c["cell_type"] == "code")
    call = re.search(r"lab\.folders\(\s*f?[\"']([^\"']+)[\"']\s*,\s*synthetic", code)
    assert call, f"{nb.name}: fill the folders with lab.folders(<step>, synthetic, ...)"
    for name in folders:
        assert re.search(rf"\b{name}\s*=\s*{name}\b", code), f"{nb.name}: lab.folders does not fill {name}"
    step = call.group(1).replace("{scope}", "nl")
    assert step in STEPS_OF[nb.name], f"{nb.name}: lab.folders names step {step}, not one of {STEPS_OF[nb.name]}"
