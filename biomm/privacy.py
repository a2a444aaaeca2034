"""Pseudonyms, salts and PHI detection: keep identifying data out of what biomm writes.

One implementation serves the pipeline log, ``failures.csv``, the HTML report and
``biomm cohort pseudonymise``:

* :func:`pseudonym` — ``id-`` + the first 16 hex digits of HMAC-SHA256 keyed by a secret
  salt. The same id and salt give the same pseudonym on every run and machine; without the
  salt a pseudonym cannot be traced back (or recomputed from a guessed id).
* :func:`resolve_salt` — the salt from an argument, a file (``--salt-file``) or the
  ``BIOMM_PSEUDONYM_SALT`` environment variable; empty or short salts are refused.
* :class:`Pseudonymiser` — replaces known ids by their pseudonyms in any text (messages, file
  names, log lines).
* :func:`phi_kind`, :func:`phi_columns`, :func:`looks_like_phi` — columns and values that may
  hold names, dates of birth, record numbers (MRN/SSN-like), addresses, phone numbers or
  e-mail addresses, by column name and by value pattern; :func:`redact` keeps such values out
  of messages.

Examples:
    >>> p = Pseudonymiser("a-long-secret", ["P0001", "P0002"])
    >>> p.text("slides/P0001.svs: cannot open; P00010 unaffected")
    'slides/id-....svs: cannot open; P00010 unaffected'
    >>> p.id("P0001") == pseudonym("P0001", "a-long-secret")
    True
    >>> Pseudonymiser(None, ["P0001"]).text("P0001")
    'P0001'
    >>> phi_kind("DateOfBirth"), phi_kind("age")
    ('date of birth', None)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from biomm.errors import ConfigError

if TYPE_CHECKING:
    from biomm.cohort.manifest import Cohort

__all__ = [
    "DIGEST_HEX",
    "LEGACY_SALT_ENV",
    "MIN_SALT_LENGTH",
    "PSEUDONYM_PATTERN",
    "REDACTED",
    "SALT_ENV",
    "PseudonymisedTable",
    "Pseudonymiser",
    "check_salt",
    "free_text_column",
    "id_pattern",
    "looks_like_phi",
    "phi_columns",
    "phi_kind",
    "pseudonym",
    "pseudonymise_cohort",
    "read_salt_file",
    "redact",
    "resolve_salt",
]

#: Environment variable holding the salt (keeps it out of the shell history).
SALT_ENV = "BIOMM_PSEUDONYM_SALT"
#: Older name of the variable, read by ``biomm run --pseudonymise``; accepted as a fallback.
LEGACY_SALT_ENV = "BIOMM_PSEUDONYMISE_SALT"
#: Fewest characters a salt may have (a short key can be found by trying every one).
MIN_SALT_LENGTH = 8
#: Hex digits of HMAC-SHA256 kept in a pseudonym (64 bits: no collision in practice).
DIGEST_HEX = 16
#: What a pseudonym looks like.
PSEUDONYM_PATTERN = re.compile(rf"\bid-[0-9a-f]{{{DIGEST_HEX}}}\b")
#: Stands in for a value kept out of a message.
REDACTED = "<redacted>"

_SALT_HINT = (
    'make one with: python -c "import secrets; print(secrets.token_hex(16))" > salt.txt '
    "(keep it secret and keep it: the same salt gives the same pseudonyms)"
)

# ---- salts ----------------------------------------------------------------------------------


def check_salt(salt: Any, *, source: str = "the salt") -> str:
    """Return ``salt`` when it is usable as a pseudonymisation key, else raise.

    The salt itself is never part of the error message.

    Args:
        salt: The secret.
        source: Where the salt came from, for the message (``--salt-file s.txt``…).

    Raises:
        ConfigError: On a salt that is not text, is empty, or is shorter than
            :data:`MIN_SALT_LENGTH` characters.

    Examples:
        >>> check_salt("correct horse battery")
        'correct horse battery'
        >>> check_salt("abc", source="$BIOMM_PSEUDONYM_SALT")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: $BIOMM_PSEUDONYM_SALT: the pseudonymisation salt is too short \
(3 characters, at least 8 needed); make one with: ...
    """
    if not isinstance(salt, str):
        raise ConfigError(f"the pseudonymisation salt must be text, got {type(salt).__name__}")
    if not salt.strip():
        raise ConfigError(f"the pseudonymisation salt is empty; {_SALT_HINT}", path=source)
    if len(salt) < MIN_SALT_LENGTH:
        raise ConfigError(
            f"the pseudonymisation salt is too short ({len(salt)} characters, at least "
            f"{MIN_SALT_LENGTH} needed); {_SALT_HINT}",
            path=source,
        )
    return salt


def read_salt_file(path: str | PathLike[str]) -> str:
    """Read a salt from a UTF-8 text file (surrounding whitespace and newlines removed).

    Raises:
        ConfigError: When the file is missing or unreadable, or the salt is unusable
            (see :func:`check_salt`).

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "salt.txt"
        >>> _ = f.write_text("s3cret-and-long\\n")
        >>> read_salt_file(f)
        's3cret-and-long'
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("salt file not found", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the salt file: {exc.strerror or exc}", path=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("the salt file is not UTF-8 text", path=path) from None
    return check_salt(text.strip(), source=str(path))


def resolve_salt(
    salt: str | None = None,
    salt_file: str | PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    required: bool = False,
) -> str | None:
    """The salt from an argument, else a file, else ``$BIOMM_PSEUDONYM_SALT``.

    ``$BIOMM_PSEUDONYMISE_SALT`` (the variable ``biomm run`` reads) is accepted when
    ``$BIOMM_PSEUDONYM_SALT`` is not set.

    Args:
        salt: The salt itself (from Python code; on a command line prefer a file).
        salt_file: A file holding the salt.
        environ: The environment (default: ``os.environ``).
        required: Raise when no salt is found instead of returning None.

    Raises:
        ConfigError: When both ``salt`` and ``salt_file`` are given, when the salt is
            unusable, or (with ``required``) when there is none.

    Examples:
        >>> resolve_salt(environ={"BIOMM_PSEUDONYM_SALT": "from-the-environment"})
        'from-the-environment'
        >>> resolve_salt(environ={}) is None
        True
        >>> resolve_salt(environ={}, required=True)
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: no pseudonymisation salt: give --salt-file FILE or set \
BIOMM_PSEUDONYM_SALT; make one with: ...
    """
    environ = os.environ if environ is None else environ
    if salt is not None and salt_file is not None:
        raise ConfigError("give the salt or a salt file, not both")
    if salt is not None:
        return check_salt(salt)
    if salt_file is not None:
        return read_salt_file(salt_file)
    for name in (SALT_ENV, LEGACY_SALT_ENV):
        value = environ.get(name)
        if value is not None:
            return check_salt(value.strip(), source=f"${name}")
    if required:
        raise ConfigError(
            f"no pseudonymisation salt: give --salt-file FILE or set {SALT_ENV}; {_SALT_HINT}"
        )
    return None


# ---- pseudonyms -----------------------------------------------------------------------------


def _id_text(value: Any) -> str:
    """An id as text: ``15709.0`` → ``"15709"``, surrounding whitespace removed."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def pseudonym(value: Any, salt: str) -> str:
    """The pseudonym of one id: ``id-`` + 16 hex digits of HMAC-SHA256(key=salt, id).

    Args:
        value: The id (text or number; ``15709.0`` and ``"15709"`` are the same id).
        salt: The secret key (see :func:`check_salt`).

    Examples:
        >>> pseudonym("P0001", "a-long-secret") == pseudonym(" P0001 ", "a-long-secret")
        True
        >>> pseudonym("P0001", "a-long-secret") != pseudonym("P0001", "another-secret")
        True
        >>> len(pseudonym(7, "a-long-secret"))
        19
    """
    key = check_salt(salt).encode("utf-8")
    digest = hmac.new(key, _id_text(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"id-{digest[:DIGEST_HEX]}"


def id_pattern(ids: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``ids`` as a whole word (None when there is none).

    A match may not touch a letter or digit on either side, so ``P1`` matches in
    ``slides/P1.svs`` and ``P1_a`` but not in ``P12``; longer ids are tried first.

    Examples:
        >>> id_pattern(["P1", "P12"]).sub("#", "P1, P12, P123, x/P1.svs")
        '#, #, P123, x/#.svs'
        >>> id_pattern([]) is None
        True
    """
    unique = sorted({i for i in ids if i}, key=len, reverse=True)
    if not unique:
        return None
    alternation = "|".join(re.escape(i) for i in unique)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternation})(?![A-Za-z0-9])")


class Pseudonymiser:
    """Replace known ids by their pseudonyms (nothing is replaced without a salt).

    Args:
        salt: The secret key; None disables pseudonymisation (text passes unchanged).
        ids: The ids to replace in text (patient and sample ids, file stems).
        min_length: Ids shorter than this are pseudonymised by :meth:`id` but not searched
            for in text (a one-letter id would match ordinary words).

    Raises:
        ConfigError: On an unusable salt (see :func:`check_salt`).

    Examples:
        >>> p = Pseudonymiser("a-long-secret", ["P7"])
        >>> p.text("P7 failed; P77 ok") == f"{p.id('P7')} failed; P77 ok"
        True
        >>> p.mapping() == {p.id("P7"): "P7"}
        True
    """

    def __init__(self, salt: str | None, ids: Iterable[Any] = (), *, min_length: int = 1) -> None:
        self.salt = None if salt is None else check_salt(salt)
        self.min_length = min_length
        self._ids: dict[str, None] = {}
        self._cache: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(ids)

    @property
    def active(self) -> bool:
        """True when a salt was given."""
        return self.salt is not None

    @property
    def ids(self) -> list[str]:
        """The ids searched for in text, in the order added."""
        return list(self._ids)

    def add(self, ids: Iterable[Any]) -> None:
        """Add ids to search for in text.

        Examples:
            >>> p = Pseudonymiser("a-long-secret")
            >>> p.add(["A12"]); "A12" in p.text("A12 x")
            False
        """
        before = len(self._ids)
        for value in ids:
            if value is None or (isinstance(value, float) and value != value):
                continue
            text = _id_text(value)
            if len(text) >= self.min_length and text:
                self._ids.setdefault(text)
        if len(self._ids) != before:
            self._pattern = None

    def id(self, value: Any) -> Any:
        """The pseudonym of one id (the id itself without a salt; None and NaN pass).

        Examples:
            >>> Pseudonymiser("a-long-secret").id("P1") != "P1", Pseudonymiser(None).id("P1")
            (True, 'P1')
        """
        if self.salt is None or value is None or (isinstance(value, float) and value != value):
            return value
        key = _id_text(value)
        if key not in self._cache:
            self._cache[key] = pseudonym(key, self.salt)
        return self._cache[key]

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None:
            self._pattern = id_pattern(self._ids)
        return self._pattern

    def text(self, value: Any) -> Any:
        """``value`` with every known id replaced by its pseudonym (non-strings pass).

        Ids match as whole words: ``P1`` is replaced in ``slides/P1.svs`` but not in ``P12``.
        """
        if self.salt is None or not isinstance(value, str) or not value:
            return value
        pattern = self._compiled()
        if pattern is None:
            return value
        return pattern.sub(lambda m: self.id(m.group(0)), value)

    def mapping(self) -> dict[str, str]:
        """Pseudonym → id of every id known (for a key file; keep it as secret as the salt)."""
        if self.salt is None:
            return {}
        return {self.id(i): i for i in self._ids}


# ---- PHI detection --------------------------------------------------------------------------


def _wordlist(words: str) -> tuple[str, ...]:
    return tuple(words.split())


#: Column-name words (after splitting at ``_``, ``-``, spaces and camel case) → kind of PHI.
_NAME_WORDS: dict[str, tuple[str, ...]] = {
    "name": _wordlist(
        "name names surname surnames forename forenames firstname lastname fullname givenname "
        "familyname maidenname middlename patientname nickname initials"
    ),
    "date of birth": _wordlist("dob birth birthdate birthday dateofbirth born"),
    "record number": _wordlist(
        "mrn ssn nhs nhsnumber socialsecurity medicalrecord medicalrecordnumber hospitalnumber"
    ),
    "address": _wordlist("address street postcode postalcode zip zipcode"),
    "phone": _wordlist("phone telephone tel mobile fax cellphone"),
    "e-mail": _wordlist("email mail emailaddress"),
}
_WORD_KIND = {w: kind for kind, words in _NAME_WORDS.items() for w in words}
#: Words that make a ``name`` column harmless (a drug or test name is not a person's name).
_NOT_PERSON = frozenset(_wordlist("drug test lab site file study model step class encoder column"))
#: Column-name words of free text (reports, notes): never shown in reports or messages.
_FREE_TEXT_WORDS = frozenset(
    _wordlist("report reports text note notes narrative findings impression")
)

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("e-mail", re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")),
    ("record number", re.compile(r"^\d{3}-\d{2}-\d{4}$")),  # SSN-like
    ("record number", re.compile(r"^(MRN|NHS|SSN)[\s:#-]*\d{4,}$", re.IGNORECASE)),
    ("name", re.compile(r"^[A-Z][A-Za-z'-]+, [A-Z][A-Za-z'-]+( [A-Z][A-Za-z'.-]*)?$")),
    ("name", re.compile(r"^(Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.? [A-Z][A-Za-z'-]+")),
)

_PHONE = re.compile(r"^\+?\(?\d{1,4}\)?([\s.-]\(?\d{2,5}\)?){2,4}$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def phi_kind(column: Any) -> str | None:
    """The kind of PHI a column name suggests, or None.

    Kinds: ``name``, ``date of birth``, ``record number`` (MRN, SSN, NHS number…),
    ``address``, ``phone``, ``e-mail``. Names are split into words at ``_``, ``-``, spaces
    and camel case; ``drug_name``-like columns are not person names.

    Examples:
        >>> [phi_kind(c) for c in ("patient_name", "DOB", "mrn", "home_address", "auroc")]
        ['name', 'date of birth', 'record number', 'address', None]
        >>> phi_kind("drug_name"), phi_kind("e-mail"), phi_kind("phoneNumber")
        (None, 'e-mail', 'phone')
    """
    words = _words(str(column))
    if not words:
        return None
    for candidate in (*words, "".join(words)):
        kind = _WORD_KIND.get(candidate)
        if kind == "name" and any(w in _NOT_PERSON for w in words):
            continue
        if kind is not None:
            return kind
    if len(words) >= 2 and "".join(words[-2:]) in _WORD_KIND:
        return _WORD_KIND["".join(words[-2:])]
    return None


def free_text_column(column: Any) -> bool:
    """Whether a column name suggests free text (reports, notes, findings).

    Examples:
        >>> free_text_column("report_text"), free_text_column("Notes"), free_text_column("age")
        (True, True, False)
    """
    return any(w in _FREE_TEXT_WORDS for w in _words(str(column)))


def looks_like_phi(value: Any) -> str | None:
    """The kind of PHI a single value looks like (e-mail, SSN/MRN-like, phone, name), or None.

    Only formats that ordinary data rarely has are recognised: ``name@host.org``,
    ``123-45-6789``, ``MRN 0042137``, ``+44 20 7946 0958``, ``Doe, Jane``, ``Mrs. Doe``.
    Dates are not flagged by value (a date of birth looks like any date): see
    :func:`phi_kind` for columns named like one.

    Examples:
        >>> [looks_like_phi(v) for v in ("jane@example.org", "123-45-6789", "Doe, Jane", "F")]
        ['e-mail', 'record number', 'name', None]
        >>> looks_like_phi("+44 20 7946 0958"), looks_like_phi("(555) 123-4567")
        ('phone', 'phone')
        >>> looks_like_phi("12.5"), looks_like_phi("2020-01-31"), looks_like_phi(3)
        (None, None, None)
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not 3 <= len(text) <= 120:
        return None
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.match(text):
            return kind
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 9 and _PHONE.match(text) and not _DATE.match(text):
        return "phone"
    return None


def phi_columns(
    frame: pd.DataFrame, *, sample: int = 200, min_fraction: float = 0.3
) -> dict[str, str]:
    """Columns that may hold PHI → the reason, by column name and by value pattern.

    Args:
        frame: The table.
        sample: Non-missing values looked at per column.
        min_fraction: A column is flagged by its values when at least this fraction of the
            sampled values look like PHI (:func:`looks_like_phi`).

    Examples:
        >>> frame = pd.DataFrame({"dob": ["1950-01-01"], "contact": ["a@b.org"], "age": [70]})
        >>> phi_columns(frame)
        {'dob': 'named like a date of birth column', 'contact': 'values look like e-mail'}
    """
    found: dict[str, str] = {}
    for column in frame.columns:
        kind = phi_kind(column)
        if kind is not None:
            found[str(column)] = f"named like a {kind} column"
            continue
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        values = [v for v in series.dropna().tolist()[: sample * 4] if isinstance(v, str)]
        values = values[:sample]
        if not values:
            continue
        kinds = [k for k in map(looks_like_phi, values) if k]
        if len(kinds) >= max(1.0, min_fraction * len(values)):
            common = max(set(kinds), key=kinds.count)
            found[str(column)] = f"values look like {common}"
    return found


def redact(value: Any, *, column: Any = None, sensitive: Iterable[str] = ()) -> Any:
    """``value``, or :data:`REDACTED` when its column or the value itself may be PHI.

    Args:
        value: A cell value about to be quoted in a message.
        column: Its column name.
        sensitive: Further columns to redact (e.g. EHR ``identifier`` columns, free-text
            columns).

    Examples:
        >>> redact("12.5", column="age"), redact("1950-01-01", column="dob")
        ('12.5', '<redacted>')
        >>> redact("jane@example.org", column="x"), redact(None, column="dob") is None
        ('<redacted>', True)
    """
    if value is None:
        return None
    if column is not None and (str(column) in set(sensitive) or phi_kind(column)):
        return REDACTED
    return REDACTED if looks_like_phi(str(value)) else value


# ---- a pseudonymised manifest ---------------------------------------------------------------


@dataclass
class PseudonymisedTable:
    """The result of :func:`pseudonymise_cohort`.

    Attributes:
        table: The manifest, ids replaced and PHI-looking columns dropped.
        id_columns: The columns whose ids were replaced.
        dropped: Column → why it was dropped.
        notes: What the user should know (e.g. file names that contain ids).
        key: Pseudonym → id (columns ``pseudonym``, ``column``, ``id``); write it only when
            asked, and keep it as secret as the salt.
    """

    table: pd.DataFrame
    id_columns: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    key: pd.DataFrame = field(default_factory=pd.DataFrame)


def pseudonymise_cohort(
    cohort: Cohort,
    salt: str,
    *,
    id_columns: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> PseudonymisedTable:
    """The cohort's manifest with ids pseudonymised and PHI-looking columns dropped.

    The schema's patient and sample id columns and ``id_columns`` are replaced by
    :func:`pseudonym`; ids inside inline report text are replaced too. Columns found by
    :func:`phi_columns` are dropped unless listed in ``keep``; modality file references are
    kept as they are (a note counts those whose path contains an id).

    Raises:
        ConfigError: On an unusable salt, or a column of ``id_columns``/``keep`` that is not
            in the manifest.

    Examples:
        >>> from biomm import Cohort
        >>> frame = pd.DataFrame({"patient_id": ["P1", "P2"], "name": ["Doe, Jane", "Roe, R"],
        ...                       "report": ["P1: benign.", "Malignant."], "age": [61, 70]})
        >>> result = pseudonymise_cohort(Cohort(frame), "a-long-secret")
        >>> result.table.columns.tolist(), result.dropped
        (['patient_id', 'report', 'age'], {'name': 'named like a name column'})
        >>> result.table["report"][0] == pseudonym("P1", "a-long-secret") + ": benign."
        True
    """
    salt = check_salt(salt)
    table = cohort.table.copy()
    schema = cohort.schema
    extra, kept = list(id_columns), list(keep)
    unknown = [c for c in [*extra, *kept] if c not in table.columns]
    if unknown:
        raise ConfigError(
            f"no such column in the manifest: {', '.join(unknown)} (columns: "
            f"{', '.join(map(str, table.columns))})"
        )
    ids = [c for c in (schema.patient_id, schema.sample_id, *extra) if c and c in table]
    ids = list(dict.fromkeys(ids))
    references = {
        spec.column: modality
        for modality, spec in schema.modalities.items()
        if spec.column in table
    }
    found = phi_columns(table.drop(columns=ids + list(references)))
    dropped = {c: reason for c, reason in found.items() if c not in kept}
    table = table.drop(columns=list(dropped))
    pseudonymiser = Pseudonymiser(salt, min_length=2)
    key_rows = []
    for column in ids:
        values = table[column].tolist()
        pseudonymiser.add(values)
        table[column] = [pseudonymiser.id(v) if _present(v) else v for v in values]
        key_rows += [
            {"pseudonym": pseudonymiser.id(v), "column": column, "id": _id_text(v)}
            for v in dict.fromkeys(v for v in values if _present(v))
        ]
    notes = []
    in_paths = 0
    for column, modality in references.items():
        cells = table[column].tolist()
        if modality == "report":
            table[column] = [
                pseudonymiser.text(v) if isinstance(v, str) and not cohort.is_report_file(v) else v
                for v in cells
            ]
            if any(isinstance(v, str) and not cohort.is_report_file(v) for v in cells):
                notes.append(
                    f"inline report text in {column!r} is kept with its ids replaced; free "
                    "text is not otherwise de-identified (names or dates in it stay)"
                )
        in_paths += sum(1 for v in cells if isinstance(v, str) and pseudonymiser.text(v) != v)
    if in_paths:
        notes.append(
            f"{in_paths} file reference(s) contain an id in their path; they are kept so "
            "that the files still resolve (rename the files to share them)"
        )
    declared = set(schema.declared_columns())
    lost = sorted(set(dropped) & declared)
    if lost:
        notes.append(
            f"the schema (inferred when none is given) declares dropped column(s) "
            f"{', '.join(lost)}; pass --keep to keep them or remove them from the schema"
        )
    if schema.ehr is not None and schema.ehr.table:
        notes.append(
            f"the separate EHR table {schema.ehr.table} is not rewritten; pseudonymise it "
            "separately"
        )
    key = pd.DataFrame(key_rows, columns=["pseudonym", "column", "id"])
    return PseudonymisedTable(table, ids, dropped, notes, key)


def _present(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return False
    return bool(_id_text(value))
