"""The user docs: README.md opens with the two commands that work on a fresh machine, stays a short guide, links only
to files (and headings) that exist, and reads as documentation, not as a development log."""

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCHMARKS = ROOT / "BENCHMARKS.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
USER_DOCS = [README, BENCHMARKS, *DOCS]

# The project's contract (and CI's, .ci/run): the README's first two code blocks, byte for byte.
MAIN_JOB = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e . && "
    "python -m rl_zoo3.train --algo sac --env Ant-v4 -conf hyperparams/sac_large.yml -n 10000 --progress && "
    "python -m rl_zoo3.enjoy --algo sac --env Ant-v4 -f logs -n 1000 --no-render"
)
TESTS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "
    'pip install -e ".[dev,ray]" && ruff check . && mypy sb3_large && python -m pytest'
)
README_MAX_LINES = 300

# "issue 25", "Issue #25", "issues 15 and 25", "session 8", "sessions 5-6", and in paths ("results-issue25").
DEVELOPMENT_NUMBERS = re.compile(r"\b(?:issues?|sessions?)\s*#?\s*\d", re.IGNORECASE)
DEVELOPMENT_PHRASES = re.compile(r"\bthis session\b|\bthe speed issue\b|\ba lent (?:NVIDIA|GPU)", re.IGNORECASE)

FENCE = re.compile(r"^(`{3,}|~{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, content) of every fenced code block, in order."""
    return [(match.group(2).strip(), match.group(3)) for match in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text without its code blocks and code spans: what links and headings are read from."""
    text = FENCE.sub("", text)
    return INLINE_CODE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to
    hyphens."""
    heading = INLINE_CODE.sub(lambda match: match.group(0).strip("`"), heading)
    heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    kept = []
    for char in heading.lower():
        if char in "-_ " or unicodedata.category(char)[0] in "LN":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, duplicates numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def relative_links(text: str) -> list[str]:
    """Link and image targets that are neither URLs nor mail addresses (anchors within the page included)."""
    text = prose(text)
    targets = [match.group(1) for match in INLINE_LINK.finditer(text)]
    targets += [match.group(1) for match in REFERENCE_LINK.finditer(text)]
    return [target for target in targets if target and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)]


def test_the_docs_exist():
    assert README.is_file() and BENCHMARKS.is_file()
    assert DOCS, "docs/*.md"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_issue_or_session_numbers(path):
    """Users read these files: no references to the tracker or to work sessions."""
    found = [
        f"line {text.count(chr(10), 0, match.start()) + 1}: {match.group(0)!r}"
        for text in [path.read_text()]
        for pattern in (DEVELOPMENT_NUMBERS, DEVELOPMENT_PHRASES)
        for match in pattern.finditer(text)
    ]
    assert not found, f"{path.name} names development history: {found}"


def test_readme_is_at_most_300_lines():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details to docs/"


def test_readme_opens_with_the_main_job_and_the_tests():
    """The first two code blocks are the commands CI runs on a fresh machine, unchanged."""
    blocks = fenced_blocks(README.read_text())
    assert len(blocks) >= 2
    (info1, main_job), (info2, tests) = blocks[:2]
    assert (info1, info2) == ("bash", "bash")
    assert main_job.strip("\n") == MAIN_JOB
    assert tests.strip("\n") == TESTS


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(path):
    broken = []
    for target in relative_links(path.read_text()):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.name}")
    assert not broken, f"{path.name}: {broken}"


def test_the_link_reader_sees_links_and_skips_code():
    text = (
        "See [the docs](docs/hub.md#security) and ![a plot](docs/x.png) and [site](https://example.org).\n"
        "`[not](a-link.md)`\n```bash\necho [no](link.md)\n```\n[ref]: BENCHMARKS.md\n"
    )
    assert relative_links(text) == ["docs/hub.md#security", "docs/x.png", "BENCHMARKS.md"]
    assert slug('`precision="bf16"`: what runs in bfloat16') == "precisionbf16-what-runs-in-bfloat16"
    assert slug("Ape-X and Ray: parallel actors") == "ape-x-and-ray-parallel-actors"


def test_the_number_pattern_catches_references_not_prose():
    references = ["issue 25", "Issue #25", "(issues 15 and 25)", "session 8", "Sessions 5-6", "issue#3"]
    for text in [*references, "benchmarks/results/ant-v4-50k-issue25"]:
        assert DEVELOPMENT_NUMBERS.search(text), text
    for text in ["an issue with 2 seeds", "sessions of training"]:
        assert not DEVELOPMENT_NUMBERS.search(text), text


def test_the_readmes_python_quick_start_trains_saves_and_loads_in_a_fresh_process(tmp_path):
    """The README's two Python blocks as written, at a short budget: the first trains and saves, the second loads
    in another interpreter (no ``sb3_large`` import); and the one-line recipe of ``sb3_large.hyperparams``."""
    import subprocess
    import sys

    blocks = [code for lang, code in fenced_blocks(README.read_text()) if lang == "python"]
    train, load = blocks[0], blocks[1]
    assert "model.learn(50_000" in train and "learning_starts=5000" in train
    short = train.replace("model.learn(50_000", "model.learn(300").replace(
        "learning_starts=5000", "learning_starts=200"
    )
    recipe = (
        "import sb3_large\n"
        "recipe = sb3_large.hyperparams.load('sac_large', 'Hopper-v4')\n"
        "kwargs = dict(recipe.kwargs, learning_starts=50)\n"
        "recipe.algorithm(recipe.policy, recipe.make_env(), **kwargs).learn(60, callback=recipe.callbacks())\n"
    )
    assert 'sb3_large.hyperparams.load("sac_large", "Hopper-v4")' in README.read_text()
    outputs = []
    for code in (short, load + "\nprint(model.predict(env.reset(), deterministic=True)[0].shape)\n", recipe):
        env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
        run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(run.stdout)
    assert (tmp_path / "sac_large_hopper.zip").exists() and (tmp_path / "vecnormalize.pkl").exists()
    assert outputs[1].strip().endswith("(1, 3)")  # the loaded model acts on Hopper's 3 action dimensions
