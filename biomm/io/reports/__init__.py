"""Free-text reports: read (inline or file, safe decoding), split into sections, clean.

Examples:
    >>> from biomm.io.reports import read_report, select_section, split_sentences
    >>> report = read_report("FINDINGS: Small effusion. IMPRESSION: Effusion.")
    >>> select_section(report), split_sentences(report.sections["findings"])
    ('Effusion.', ['Small effusion.'])
"""

from biomm.io.reports.clean import (
    DEFAULT_BOILERPLATE,
    PLACEHOLDER_PATTERNS,
    clean_text,
    sentence_spans,
    split_sentences,
)
from biomm.io.reports.reader import (
    MAX_REPORT_BYTES,
    Report,
    decode_report_bytes,
    looks_like_report_file,
    read_report,
    reports_from_column,
)
from biomm.io.reports.sections import (
    DEFAULT_HEADERS,
    DEFAULT_PREFER,
    choose_section,
    is_header_line,
    load_headers,
    merge_headers,
    select_section,
    split_sections,
    strip_headers,
)

__all__ = [
    "DEFAULT_BOILERPLATE",
    "DEFAULT_HEADERS",
    "DEFAULT_PREFER",
    "MAX_REPORT_BYTES",
    "PLACEHOLDER_PATTERNS",
    "Report",
    "choose_section",
    "clean_text",
    "decode_report_bytes",
    "is_header_line",
    "load_headers",
    "looks_like_report_file",
    "merge_headers",
    "read_report",
    "reports_from_column",
    "select_section",
    "sentence_spans",
    "split_sections",
    "split_sentences",
    "strip_headers",
]
