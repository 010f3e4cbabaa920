"""A linter (ruff, configured in ruff.toml) and a static security check (bandit) over the code.

ruff checks portal/, config.py, wsgi.py, gunicorn.conf.py, migrations/ and tests/, and then the
whole repository as `ruff check .` does; bandit checks the code that runs in production (the
tests attack the portal on purpose: fixed secrets, subprocesses, loopback servers). Each tool is
also shown to find what it is there to find, so a silent misconfiguration cannot pass.
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCTION_CODE = ["portal", "config.py", "wsgi.py", "gunicorn.conf.py"]
UNSAFE_SAMPLE = 'import subprocess\n\nsubprocess.call("ls", shell=True)\nPASSWORD = "hunter2"\n'


def run(*command):
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_ruff_is_clean_on_the_product_and_its_tests():
    result = run("ruff", "check", *PRODUCTION_CODE, "migrations", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean_on_the_whole_repository():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_what_it_is_configured_to_find(tmp_path):
    """A control: ruff.toml selects the security rules (S) outside the tests."""
    sample = tmp_path / "sample.py"
    sample.write_text(UNSAFE_SAMPLE)
    result = run("ruff", "check", "--config", str(ROOT / "ruff.toml"), "--no-cache", str(sample))
    assert result.returncode == 1 and "S602" in result.stdout and "S105" in result.stdout


def test_bandit_is_clean():
    result = run("bandit", "-q", "-r", *PRODUCTION_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bandit_finds_what_it_is_there_to_find(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(UNSAFE_SAMPLE)
    result = run("bandit", "-q", str(sample))
    assert result.returncode == 1 and "B602" in result.stdout and "B105" in result.stdout


# SECURITY.md: every ASVS 4.0.3 V2 and V3 requirement, each with its status and its proof

ASVS_V2_V3 = {"2.1": 12, "2.2": 7, "2.3": 3, "2.4": 6, "2.5": 7, "2.6": 3, "2.7": 6, "2.8": 7, "2.9": 3, "2.10": 4,
              "3.1": 1, "3.2": 4, "3.3": 4, "3.4": 5, "3.5": 3, "3.6": 2, "3.7": 1}
REFERENCE = re.compile(r"(test_\w+\.py)?::(test_\w+\*?)")


def defined_tests():
    """{file name: {test function names}} for tests/ and tests/browser/."""
    found = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.setdefault(path.name, set()).update(
            node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))
    return found


def test_security_md_covers_every_requirement_with_a_status_and_a_proof():
    rows = {}
    for line in (ROOT / "SECURITY.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[23]\.\d+\.\d+", cells[0]):
            rows[cells[0]] = cells
    expected = {f"{section}.{n}" for section, count in ASVS_V2_V3.items() for n in range(1, count + 1)}
    assert set(rows) == expected, (sorted(expected - set(rows)), sorted(set(rows) - expected))
    for number, (_, paraphrase, status, proof) in rows.items():
        assert paraphrase and proof, number
        assert re.match(r"(met|n/a|departs)\b", status), (number, status)
        if status.startswith("met") or status.startswith("departs"):
            assert REFERENCE.search(proof), f"{number}: a met or departing requirement names its test"


def test_every_test_named_in_security_md_exists():
    tests = defined_tests()
    named = 0
    for line in (ROOT / "SECURITY.md").read_text(encoding="utf-8").splitlines():
        current = None
        for file_name, test_name in REFERENCE.findall(line):
            current = file_name or current
            assert current, f"a test named without its file: {line}"
            names = tests.get(current, set())
            if test_name.endswith("*"):
                assert any(name.startswith(test_name[:-1]) for name in names), (current, test_name)
            else:
                assert test_name in names, (current, test_name)
            named += 1
    assert named > 80
