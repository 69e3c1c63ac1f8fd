"""CITATION.cff is valid Citation File Format 1.2.0, and LICENSE states both licenses.

cffconvert (the reference validator) pins jsonschema<4, which the notebook stack cannot use, so
this checks the schema's rules that matter here by hand: the four required keys, the types of the
keys we use, SPDX license ids, an ISO date, and that version and URL agree with the project's own
single sources (code/pyproject.toml, the repository setting in _config.yml).
"""

import datetime
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CFF = yaml.safe_load((ROOT / "CITATION.cff").read_text())

REQUIRED = {"cff-version", "message", "title", "authors"}
# keys defined at the top level of the CFF 1.2.0 schema
KNOWN = REQUIRED | {"abstract", "commit", "contact", "date-released", "doi", "identifiers",
                    "keywords", "license", "license-url", "preferred-citation", "references",
                    "repository", "repository-artifact", "repository-code", "type", "url",
                    "version"}
PERSON_KEYS = {"family-names", "given-names", "name-particle", "name-suffix", "affiliation",
               "address", "city", "country", "email", "fax", "orcid", "post-code", "region",
               "tel", "website", "alias"}
ENTITY_KEYS = {"name", "address", "city", "country", "date-end", "date-start", "email", "fax",
               "location", "orcid", "post-code", "region", "tel", "website", "alias"}


def test_required_keys_and_version():
    assert REQUIRED <= CFF.keys(), f"missing required keys: {REQUIRED - CFF.keys()}"
    assert CFF["cff-version"] == "1.2.0"
    unknown = CFF.keys() - KNOWN
    assert not unknown, f"keys the CFF 1.2.0 schema does not define: {unknown}"
    for key in ("message", "title", "abstract", "version"):
        if key in CFF:
            assert isinstance(CFF[key], str) and CFF[key].strip(), f"{key} must be a non-empty string"
    assert CFF.get("type", "software") in {"software", "dataset"}


def test_authors_are_persons_or_entities():
    authors = CFF["authors"]
    assert isinstance(authors, list) and authors, "authors must be a non-empty list"
    for author in authors:
        assert isinstance(author, dict)
        if "name" in author:     # an entity
            assert author.keys() <= ENTITY_KEYS, author
        else:                    # a person
            assert author.keys() <= PERSON_KEYS and author.keys() & {"family-names", "given-names"}, author


def test_date_license_and_keywords():
    # quoted on purpose: an unquoted date is a YAML date, and the schema wants a string
    assert isinstance(CFF["date-released"], str)
    datetime.date.fromisoformat(CFF["date-released"])
    licenses = CFF["license"] if isinstance(CFF["license"], list) else [CFF["license"]]
    assert set(licenses) == {"MIT", "CC-BY-4.0"}, "code under MIT, prose and figures under CC BY 4.0"
    assert all(isinstance(k, str) for k in CFF["keywords"])
    assert re.fullmatch(r"https://\S+", CFF["repository-code"])


def test_citation_agrees_with_the_project():
    # a regex, not tomllib: the book supports Python 3.10, which has no tomllib
    version = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "code" / "pyproject.toml").read_text(), re.M)
    assert CFF["version"] == version.group(1), "CITATION.cff version != code/pyproject.toml version"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository", {}).get("url")
    if repo:
        assert CFF["repository-code"] == repo, "CITATION.cff repository-code != _config.yml repository url"


def test_license_file_names_both_licenses():
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "Permission is hereby granted" in text
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0" in text
