"""Reading YAML configs into pydantic models, with errors that name the file.

The steps every ``from_yaml`` shares: read a YAML mapping, resolve relative paths against the
config's folder, validate, and turn a pydantic ``ValidationError`` into one
:class:`~biomm.errors.ConfigError` listing every offending key.

YAML is read strictly (:func:`load_yaml`): only plain YAML (``safe_load`` types: no tag that
builds a Python object), **no duplicated key** in a mapping (YAML would silently keep the last
one), at most :data:`MAX_YAML_DEPTH` levels of nesting and :data:`MAX_YAML_NODES` nodes once
every alias is expanded (a "billion laughs" document is refused before anything walks it), and
no alias that refers to the collection it is inside. Files are decoded strictly
(:func:`decode_text_bytes`): UTF-8, or UTF-16/32 with a byte-order mark; binary content
(PDF, ZIP, gzip, ... or NUL bytes) is refused with what it looks like.

Examples:
    >>> import tempfile
    >>> class Run(BaseModel):
    ...     out: Path
    ...     epochs: int = 1
    >>> path = Path(tempfile.mkdtemp()) / "run.yaml"
    >>> _ = path.write_text("out: run\\nepochs: 3\\n")
    >>> data = resolve_paths(read_yaml_mapping(path), ("out",), path.parent)
    >>> cfg = validate_config(Run, data, path)
    >>> cfg.epochs, cfg.out == path.parent / "run"
    (3, True)
    >>> load_yaml("epochs: 3\\nepochs: 4\\n", source="run.yaml")
    Traceback (most recent call last):
    ...
    biomm.errors.ConfigError: run.yaml: duplicated key 'epochs' on line 2 (first on line 1)
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from biomm.errors import BiommError, ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Deepest nesting of lists and mappings a YAML document may have.
MAX_YAML_DEPTH = 64
#: Most nodes a YAML document may hold once every alias is expanded.
MAX_YAML_NODES = 200_000
#: Largest YAML file read (configs are a few KB).
MAX_YAML_BYTES = 8 << 20

#: Leading bytes of formats that are not text, and what they are.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (Excel .xlsx and Word .docx files are ZIP archives)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document (Excel .xls or Word .doc)"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (extract it first)"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an executable (ELF)"),
)
#: Byte-order marks and the codec each implies.
TEXT_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def binary_content(data: bytes) -> str | None:
    """Why ``data`` is not text (a known binary signature or a NUL byte), or None.

    Examples:
        >>> binary_content(b"%PDF-1.7 ...")
        'binary content: a PDF document'
        >>> binary_content("id".encode("utf-16-le"))
        'binary content: NUL byte at offset 1 (UTF-16 text without a byte-order mark? re-save \
it as UTF-8)'
        >>> binary_content(b"name: demo") is None
        True
    """
    for magic, what in BINARY_SIGNATURES:
        if data.startswith(magic):
            return f"binary content: {what}"
    if data.startswith(b"BZh") and data[3:4].isdigit() and data[4:10] == b"1AY&SY":
        return "binary content: bzip2-compressed data (decompress it first)"
    if data[128:132] == b"DICM":
        return "binary content: a DICOM file"
    nul = data.find(b"\x00")
    if nul >= 0:
        return (
            f"binary content: NUL byte at offset {nul} (UTF-16 text without a byte-order mark? "
            "re-save it as UTF-8)"
        )
    return None


def decode_text_bytes(
    data: bytes,
    *,
    source: str | os.PathLike[str] | None = None,
    error: type[BiommError] = ConfigError,
) -> str:
    """Decode a text file strictly: a byte-order mark decides, else UTF-8; binary is refused.

    Args:
        data: The file's bytes.
        source: The file, named in errors.
        error: The error class raised.

    Raises:
        ConfigError: (or ``error``) On binary content, bytes that are not valid in the
            encoding (with the byte offset), or a file cut inside a character.

    Examples:
        >>> decode_text_bytes(b"\\xef\\xbb\\xbfa: 1")
        'a: 1'
        >>> decode_text_bytes("a: ü".encode("latin-1"), source="c.yaml")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: c.yaml: not UTF-8 text: invalid byte 0xfc at byte 3 \
(re-save the file as UTF-8)
    """
    codec = next((c for bom, c in TEXT_BOMS if data.startswith(bom)), None)
    if codec is None:
        reason = binary_content(data)
        if reason:
            raise error(reason, path=source)
        codec = "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if codec.startswith("utf-8") else codec.upper()
        if exc.reason in ("truncated data", "unexpected end of data"):
            what = f"the file ends inside a {label} character (truncated?) at byte {exc.start}"
        else:
            what = f"invalid byte 0x{data[exc.start]:02x} at byte {exc.start}"
        raise error(f"not {label} text: {what} (re-save the file as UTF-8)", path=source) from None
    if "\x00" in text:
        raise error(f"binary content: NUL character after decoding as {codec}", path=source)
    return text


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that bounds nesting while composing (deep input cannot recurse far)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(
                    f"nested more than {MAX_YAML_DEPTH} levels deep (line {mark.line + 1})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _LimitError(Exception):
    pass


def _check_graph(root: yaml.Node) -> None:
    """Refuse duplicated keys, recursive aliases and documents that expand too far."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            line = node.start_mark.line + 1
            raise _LimitError(f"recursive alias: a collection contains itself (line {line})")
        total = 1
        if isinstance(node, yaml.SequenceNode):
            active.add(key)
            for child in node.value:
                total += size(child)
            active.discard(key)
        elif isinstance(node, yaml.MappingNode):
            active.add(key)
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    name = (k.tag, k.value)
                    if name in seen:
                        raise _LimitError(
                            f"duplicated key {k.value!r} on line {k.start_mark.line + 1} "
                            f"(first on line {seen[name]})"
                        )
                    seen[name] = k.start_mark.line + 1
                total += size(k) + size(v)
            active.discard(key)
        if total > MAX_YAML_NODES:
            raise _LimitError(
                f"aliases expand the document to more than {MAX_YAML_NODES} nodes (an alias bomb?)"
            )
        sizes[key] = total
        return total

    size(root)


def load_yaml(
    text: str,
    *,
    source: str | os.PathLike[str] | None = None,
    error: type[BiommError] = ConfigError,
) -> Any:
    """Parse one YAML document strictly (see the module docstring); empty text gives None.

    Args:
        text: The YAML text.
        source: The file, named in errors.
        error: The error class raised.

    Raises:
        ConfigError: (or ``error``) On invalid YAML, a tag that is not plain YAML (such as
            ``!!python/object``), a duplicated key, a recursive alias, too deep nesting or an
            alias expansion beyond :data:`MAX_YAML_NODES`.

    Examples:
        >>> load_yaml("steps: {a: 1, b: [1, 2]}")
        {'steps': {'a': 1, 'b': [1, 2]}}
        >>> load_yaml("x: !!python/object/apply:os.system [ls]")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: tag '!!python/object/apply:os.system' (line 1) is not \
plain YAML; only mappings, lists, strings, numbers, booleans, dates and null are read
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except _LimitError as exc:
        raise error(str(exc), path=source) from None
    except yaml.constructor.ConstructorError as exc:
        tag = _tag_of(exc)
        if tag:
            line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
            raise error(
                f"tag {tag!r} (line {line}) is not plain YAML; only mappings, lists, strings, "
                "numbers, booleans, dates and null are read",
                path=source,
            ) from None
        raise error(f"invalid YAML: {exc}", path=source) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {_yaml_message(exc)}", path=source) from None
    except RecursionError:
        raise error("YAML nested too deeply to read", path=source) from None
    finally:
        loader.dispose()


def _tag_of(exc: yaml.constructor.ConstructorError) -> str | None:
    problem = str(exc.problem or "")
    marker = "for the tag '"
    if marker not in problem:
        return None
    tag = problem.split(marker, 1)[1].rsplit("'", 1)[0]
    return tag.replace("tag:yaml.org,2002:", "!!")


def _yaml_message(exc: yaml.YAMLError) -> str:
    """A one-line YAML error: what went wrong and where (no source excerpt)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context or "", exc.problem or ""]
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        text = "; ".join(p for p in parts if p)
        if "'\\t'" in text:
            text += " (a tab character: YAML indents with spaces only)"
        return text + where
    return str(exc)


def read_yaml_file(
    path: str | os.PathLike[str],
    *,
    error: type[BiommError] = ConfigError,
    max_bytes: int = MAX_YAML_BYTES,
) -> Any:
    """Read and parse a YAML file strictly (:func:`decode_text_bytes` + :func:`load_yaml`).

    Args:
        path: The YAML file.
        error: The error class raised.
        max_bytes: Larger files are refused before they are read.

    Raises:
        ConfigError: (or ``error``) Naming the file: missing, a folder, too large, binary or
            not UTF-8, or invalid YAML (see :func:`load_yaml`).

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = path.write_bytes("a: [1, 2]".encode("utf-16"))
        >>> read_yaml_file(path)
        {'a': [1, 2]}
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise error("is a folder, not a YAML file", path=path)
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"file has {size} bytes, more than the {max_bytes}-byte limit", path=path)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error("file not found", path=path) from None
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    if len(data) > max_bytes:
        raise error(f"file has more than the {max_bytes}-byte limit", path=path)
    return load_yaml(decode_text_bytes(data, source=path, error=error), source=path, error=error)


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file that must hold a mapping; an empty file gives ``{}``.

    Read strictly with :func:`read_yaml_file` (duplicated keys, Python tags, alias bombs and
    binary or non-UTF-8 files are refused).

    Raises:
        ConfigError: Naming the file when it is missing, not valid YAML or not a mapping.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = path.write_text("epochs: 3\\n")
        >>> read_yaml_mapping(path)
        {'epochs': 3}
        >>> _ = path.write_text("- a\\n- b\\n")
        >>> read_yaml_mapping(path)
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: ...c.yaml: a config must be a mapping of keys to values
    """
    path = Path(path)
    data = read_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", path=path)
    return data


def resolve_paths(
    data: Mapping[str, Any], keys: Iterable[str], base: str | os.PathLike[str]
) -> dict[str, Any]:
    """A copy of ``data`` whose relative paths under ``keys`` are joined to ``base``.

    Absent keys, ``None`` values and absolute paths are left as they are; resolved paths are
    returned as text (pydantic turns them into :class:`~pathlib.Path` when validating).

    Examples:
        >>> resolve_paths({"out": "run", "store": None, "cohort": "/d/c.csv"},
        ...     ("out", "store", "cohort", "schema"), "/cfg")
        {'out': '/cfg/run', 'store': None, 'cohort': '/d/c.csv'}
    """
    resolved = dict(data)
    for key in keys:
        value = resolved.get(key)
        if value is not None and not Path(str(value)).is_absolute():
            resolved[key] = str(Path(base) / str(value))
    return resolved


def validation_message(exc: Exception) -> str:
    """One line for an invalid config: ``loc: msg; loc: msg`` for a pydantic error.

    Any other exception gives its ``str``.

    Examples:
        >>> from pydantic import BaseModel
        >>> class Spec(BaseModel):
        ...     epochs: int
        ...     lr: float
        >>> try:
        ...     Spec.model_validate({"epochs": "many"})
        ... except ValidationError as exc:
        ...     print(validation_message(exc))
        epochs: Input should be a valid integer, unable to parse string as an integer; lr: Field
        required
        >>> validation_message(ValueError("bad value"))
        'bad value'
    """
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)


def validate_config(
    model_cls: type[ModelT], data: Any, path: str | os.PathLike[str] | None = None
) -> ModelT:
    """``model_cls.model_validate(data)``, with every problem in one ConfigError naming ``path``.

    Raises:
        ConfigError: Listing each invalid key as ``loc: msg``.

    Examples:
        >>> from pydantic import BaseModel
        >>> class Spec(BaseModel):
        ...     epochs: int = 1
        >>> validate_config(Spec, {"epochs": 2}).epochs
        2
        >>> validate_config(Spec, {"epochs": "x"}, "run.yaml")
        Traceback (most recent call last):
        ...
        biomm.errors.ConfigError: run.yaml: epochs: Input should be a valid integer, ...
    """
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc), path=path) from None
