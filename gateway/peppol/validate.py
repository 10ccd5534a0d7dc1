"""Validate UBL documents with the official artefacts: UBL 2.1 XSD, then the Schematron rules.

Sans-IO: `validate_document` takes bytes and returns a `ValidationReport`. The only I/O is the
cached loader that reads the installed artefacts (`schemas/standards.lock`, installed by
`gateway standards install`) once per process; if they are missing or altered it raises
`StandardsMissing`, so a document is never reported valid without the official rules having run.

Which rules run (``rules="auto"``), chosen from the root element:

=======================  =====================  ============================================
root element             XSD (UBL 2.1 maindoc)  Schematron (compiled XSLT)
=======================  =====================  ============================================
Invoice, CreditNote      Invoice / CreditNote   CEN EN16931 UBL 1.3.16, then Peppol BIS 3.0.21
ApplicationResponse      ApplicationResponse    by cbc:CustomizationID: T111 (Invoice Response)
                                                or T71 (Message Level Response)
Reminder                 Reminder               none: there is no official Peppol Reminder rule set
=======================  =====================  ============================================

`rules` = billing | t111 | t71 forces a rule set. After an XSD failure the Schematron is skipped
unless `continue_after_xsd` is set, because the rules assume a schema-valid document.

Verdict: ``valid`` means *no fatal issue* (XSD errors, Schematron asserts flagged ``fatal``).
Asserts flagged ``warning`` go to ``warnings`` and do not make a document invalid: a peer's
invoice with warnings is still a valid Peppol invoice. What *we* emit must have no warnings
either; use ``ValidationReport.clean`` (``gateway validate --strict``) for that.

Saxon (saxonche) must only ever be called from the thread that created it: the GraalVM native
image aborts the whole process otherwise. Every Saxon call therefore runs on one dedicated
thread per process (`call_in_saxon_thread`). Batches use a process pool (`validate_many`),
one Saxon and one set of compiled stylesheets per worker process.

Each official XSLT is imported unchanged by a three-line wrapper that stops the ISO skeleton's
output-free walks of the unnamed mode (see `_SKIP_OUTPUT_FREE_WALK`): same SVRL byte for byte,
every rule still runs, ~7-20 % less Saxon time.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from gateway.config import get_settings
from gateway.peppol import xmlsafe
from gateway.peppol.standards import Artefact, StandardsMissing, check_installed

__all__ = [
    "RULE_CHOICES",
    "Issue",
    "ValidationReport",
    "StandardsMissing",
    "validate_document",
    "validate_many",
    "rejected_report",
    "call_in_saxon_thread",
]

RULE_CHOICES = ("auto", "billing", "t111", "t71")

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_REMINDER = "urn:oasis:names:specification:ubl:schema:xsd:Reminder-2"
NS_APPLICATION_RESPONSE = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS_EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
NS_SVRL = "http://purl.oclc.org/dsdl/svrl"

# Root element -> (document type, lock name of its UBL 2.1 maindoc XSD).
DOCUMENT_TYPES: dict[str, tuple[str, str]] = {
    f"{{{NS_INVOICE}}}Invoice": ("Invoice", "ubl-invoice"),
    f"{{{NS_CREDIT_NOTE}}}CreditNote": ("CreditNote", "ubl-creditnote"),
    f"{{{NS_REMINDER}}}Reminder": ("Reminder", "ubl-reminder"),
    f"{{{NS_APPLICATION_RESPONSE}}}ApplicationResponse": ("ApplicationResponse", "ubl-applicationresponse"),
}
# Rule set -> lock names of its compiled Schematron XSLTs, in the order they run.
RULE_SETS: dict[str, tuple[str, ...]] = {
    "billing": ("cen-en16931-ubl", "peppol-en16931-ubl"),
    "t111": ("peppol-t111",),
    "t71": ("peppol-t71",),
}
# cbc:CustomizationID of an ApplicationResponse -> rule set (Peppol POACC BIS 3).
RESPONSE_CUSTOMIZATIONS: dict[str, str] = {
    "urn:fdc:peppol.eu:poacc:trns:invoice_response:3": "t111",
    "urn:fdc:peppol.eu:poacc:trns:mlr:3": "t71",
}
# Issue.rule for findings that do not come from a Schematron assert.
RULE_XSD = "XSD"
RULE_XML = "XML"
RULE_RULE_SET = "RULE-SET"
RULE_SCHEMATRON_ERROR = "SCHEMATRON-ERROR"
# SVRL flags that do not make a document invalid.
NON_FATAL_FLAGS = frozenset({"warning", "information", "info"})

_PREFIXES = {
    NS_CAC: "cac",
    NS_CBC: "cbc",
    NS_EXT: "ext",
    NS_INVOICE: "",
    NS_CREDIT_NOTE: "",
    NS_REMINDER: "",
    NS_APPLICATION_RESPONSE: "",
}
# The ISO skeleton writes locations as /*:Name[namespace-uri()='urn:...'][1]/...
_SVRL_STEP = re.compile(r"\*:([^\[/]+)\[namespace-uri\(\)='([^']*)'\]")
_CLARK_NAME = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True)
class Issue:
    """One finding: `rule` is the official rule id (e.g. BR-CO-15) or XSD / XML / RULE-SET."""

    rule: str
    flag: str
    location: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationReport:
    file: str | None
    document_type: str | None
    valid: bool
    errors: tuple[Issue, ...] = field(default_factory=tuple)
    warnings: tuple[Issue, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        """Valid and without a single warning: the bar for documents the gateway emits."""
        return self.valid and not self.warnings

    @property
    def rule_ids(self) -> list[str]:
        """Sorted ids of every failed rule (errors and warnings), for comparisons."""
        return sorted(issue.rule for issue in (*self.errors, *self.warnings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "document_type": self.document_type,
            "valid": self.valid,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
        }


def _make_report(file: str | None, document_type: str | None, issues: Iterable[Issue]) -> ValidationReport:
    errors = tuple(issue for issue in issues if issue.flag not in NON_FATAL_FLAGS)
    warnings = tuple(issue for issue in issues if issue.flag in NON_FATAL_FLAGS)
    return ValidationReport(file, document_type, not errors, errors, warnings)


def rejected_report(file: str | None, error: xmlsafe.XmlRejected) -> ValidationReport:
    """The report for bytes that were refused before validation (malformed, DOCTYPE, too large)."""
    return _make_report(file, None, [Issue(RULE_XML, "fatal", "/", error.message)])


def short_location(location: str) -> str:
    """`/*:Invoice[namespace-uri()='...Invoice-2'][1]/*:X[namespace-uri()='...cac...'][1]` -> `/Invoice[1]/cac:X[1]`."""

    def step(match: re.Match[str]) -> str:
        name, namespace = match.group(1), match.group(2)
        prefix = _PREFIXES.get(namespace)
        if prefix is None:
            return f"Q{{{namespace}}}{name}"
        return f"{prefix}:{name}" if prefix else name

    return _SVRL_STEP.sub(step, location)


def _short_names(text: str) -> str:
    """Replace Clark names `{urn:...cbc...}ID` in lxml messages with `cbc:ID`."""

    def name(match: re.Match[str]) -> str:
        prefix = _PREFIXES.get(match.group(1))
        if prefix is None:
            return match.group(0)
        return f"{prefix}:" if prefix else ""

    return _CLARK_NAME.sub(name, text)


# --------------------------------------------------------------------------------------------
# The one Saxon thread of this process.

_T = TypeVar("_T")
_saxon_executor: ThreadPoolExecutor | None = None
_saxon_executor_lock = threading.Lock()
_saxon_thread_ident: int | None = None


def _note_saxon_thread() -> None:
    global _saxon_thread_ident
    _saxon_thread_ident = threading.get_ident()


def call_in_saxon_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run `function` on this process's Saxon thread and return its result (or raise its error)."""
    global _saxon_executor
    if threading.get_ident() == _saxon_thread_ident:
        return function(*args, **kwargs)
    with _saxon_executor_lock:
        if _saxon_executor is None:
            _saxon_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="saxon", initializer=_note_saxon_thread
            )
    future: Future[_T] = _saxon_executor.submit(function, *args, **kwargs)
    return future.result()


_processor: Any = None


def saxon_processor() -> Any:
    """The process's `PySaxonProcessor`; only call on the Saxon thread."""
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


# --------------------------------------------------------------------------------------------
# Cached loader for the installed artefacts.


# The ISO Schematron skeleton's entry template runs `<xsl:apply-templates/>` in the unnamed mode
# once per pattern (3 times in the CEN XSLT, 13 in the Peppol one): a walk over the whole
# document that can produce no output, because the unnamed mode only has a template for "/"
# and an empty one for text(). Every assert lives in the pattern modes (M11, M12, ...). The
# official file is imported unchanged (its bytes are the verified ones) and this wrapper only
# stops that walk at the document element; the SVRL is byte-for-byte the same (tested on every
# official example), and no rule is skipped. `unnamed_mode_is_output_free` checks the
# precondition on each artefact; if it ever fails, the official file is compiled on its own.
_SKIP_OUTPUT_FREE_WALK = """<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="{href}"/>
  <xsl:template match="*"/>
</xsl:stylesheet>"""
_XSL = "http://www.w3.org/1999/XSL/Transform"


def unnamed_mode_is_output_free(xslt_path: Path) -> bool:
    """True if the stylesheet's unnamed mode has only the skeleton's "/" and empty text() templates."""
    root = etree.parse(str(xslt_path), etree.XMLParser(no_network=True, resolve_entities=False)).getroot()
    if root.get("default-mode") is not None or root.find(f"{{{_XSL}}}import") is not None:
        return False
    if root.find(f"{{{_XSL}}}include") is not None:
        return False
    for template in root.iter(f"{{{_XSL}}}template"):
        modes = (template.get("mode") or "#default").split()
        if template.get("match") is None or not {"#default", "#all"} & set(modes):
            continue
        if template.get("match") == "/":
            continue
        if template.get("match") == "text()" and len(template) == 0 and not (template.text or "").strip():
            continue
        return False
    return True


class _Artefacts:
    """Compiled XSDs and stylesheets of one standards directory, each loaded on first use."""

    def __init__(self, standards_dir: Path) -> None:
        self.standards_dir = standards_dir
        self.by_name: dict[str, Artefact] = {a.name: a for a in check_installed(standards_dir)}
        self._schemas: dict[str, etree.XMLSchema] = {}
        self._stylesheets: dict[str, Any] = {}
        self._svrl_query: Any = None

    def path(self, name: str) -> Path:
        return self.standards_dir / self.by_name[name].path

    def schema(self, name: str) -> etree.XMLSchema:
        schema = self._schemas.get(name)
        if schema is None:
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            schema = etree.XMLSchema(etree.parse(str(self.path(name)), parser))
            self._schemas[name] = schema
        return schema

    def stylesheet(self, name: str) -> Any:
        executable = self._stylesheets.get(name)
        if executable is None:
            path = self.path(name)
            compiler = saxon_processor().new_xslt30_processor()
            if unnamed_mode_is_output_free(path):
                text = _SKIP_OUTPUT_FREE_WALK.format(href=xml_escape(path.as_uri(), {'"': "&quot;"}))
                executable = compiler.compile_stylesheet(stylesheet_text=text)
            else:
                executable = compiler.compile_stylesheet(stylesheet_file=str(path))
            self._stylesheets[name] = executable
        return executable

    def svrl_query(self) -> Any:
        if self._svrl_query is None:
            query = saxon_processor().new_xpath_processor()
            query.declare_namespace("svrl", NS_SVRL)
            self._svrl_query = query
        return self._svrl_query

    def warm(self) -> None:
        """Load everything now (pool workers do this once, before the first document)."""
        for _, schema_name in DOCUMENT_TYPES.values():
            self.schema(schema_name)
        for names in RULE_SETS.values():
            for name in names:
                self.stylesheet(name)
        self.svrl_query()


_loaded: dict[Path, _Artefacts] = {}


def _artefacts(standards_dir: Path) -> _Artefacts:
    """Check and load a standards directory once per process (Saxon thread only)."""
    key = Path(standards_dir).resolve()
    loaded = _loaded.get(key)
    if loaded is None:
        loaded = _Artefacts(key)
        _loaded[key] = loaded
    return loaded


def forget_loaded_artefacts() -> None:
    """Drop the cache (tests that remove or replace an installed set call this)."""
    call_in_saxon_thread(_loaded.clear)


# --------------------------------------------------------------------------------------------
# Validation.


def validate_document(
    xml: bytes,
    *,
    rules: str = "auto",
    continue_after_xsd: bool = False,
    file: str | None = None,
    standards_dir: Path | None = None,
    max_bytes: int = xmlsafe.MAX_XML_BYTES,
) -> ValidationReport:
    """Validate one document; raise `StandardsMissing`, or `xmlsafe.XmlRejected` for unsafe/malformed bytes.

    `max_bytes`: the 5 MiB default for anything from outside; `gateway validate` passes the larger
    `xmlsafe.MAX_LOCAL_FILE_BYTES` for local files."""
    if rules not in RULE_CHOICES:
        raise ValueError(f"rules must be one of {', '.join(RULE_CHOICES)}, not {rules!r}")
    directory = Path(standards_dir) if standards_dir is not None else get_settings().standards_dir
    return call_in_saxon_thread(_validate, bytes(xml), rules, continue_after_xsd, file, directory, max_bytes)


def read_local_document(path: Path, max_bytes: int = xmlsafe.MAX_LOCAL_FILE_BYTES) -> bytes:
    """A local file's bytes; `xmlsafe.XmlTooLarge` from its size on disk, before reading it."""
    size = path.stat().st_size
    if size > max_bytes:
        raise xmlsafe.too_large(size, max_bytes)
    return path.read_bytes()


def _validate(xml: bytes, rules: str, continue_after_xsd: bool, file: str | None, directory: Path, max_bytes: int) -> ValidationReport:
    # Artefacts first: a missing set is an error even for a malformed document.
    artefacts = _artefacts(directory)
    # Only bytes that pass xmlsafe ever reach Saxon, whose parser would resolve external entities.
    tree = xmlsafe.parse(xml, max_bytes=max_bytes)
    root = tree.getroot()
    document_type, schema_name = DOCUMENT_TYPES.get(root.tag, (etree.QName(root).localname, None))

    issues: list[Issue] = []
    if schema_name is None:
        supported = ", ".join(kind for kind, _ in DOCUMENT_TYPES.values())
        issues.append(
            Issue(RULE_XSD, "fatal", f"/{_short_names(root.tag)}",
                  f"the root element {root.tag} is not a supported UBL 2.1 document ({supported})")
        )
    else:
        issues.extend(_xsd_issues(artefacts.schema(schema_name), tree))
    if issues and not continue_after_xsd:
        return _make_report(file, document_type, issues)

    rule_set, problem = _choose_rule_set(rules, document_type, root)
    if problem is not None:
        issues.append(problem)
    if rule_set:
        node = _saxon_document(xml, tree)
        for name in RULE_SETS[rule_set]:
            issues.extend(_schematron_issues(artefacts, name, node))
    return _make_report(file, document_type, issues)


def _xsd_issues(schema: etree.XMLSchema, tree: etree._ElementTree) -> list[Issue]:
    if schema.validate(tree):
        return []
    return [
        Issue(RULE_XSD, "fatal", f"line {error.line}: {_short_names(error.path or '/')}", _short_names(error.message))
        for error in schema.error_log
    ]


def _choose_rule_set(rules: str, document_type: str, root: etree._Element) -> tuple[str | None, Issue | None]:
    if rules != "auto":
        return rules, None
    if document_type in ("Invoice", "CreditNote"):
        return "billing", None
    if document_type == "ApplicationResponse":
        customization = (root.findtext(f"{{{NS_CBC}}}CustomizationID") or "").strip()
        rule_set = RESPONSE_CUSTOMIZATIONS.get(customization)
        if rule_set is None:
            known = " or ".join(RESPONSE_CUSTOMIZATIONS)
            return None, Issue(
                RULE_RULE_SET, "fatal", "/ApplicationResponse[1]/cbc:CustomizationID[1]",
                f"no Peppol rule set for an ApplicationResponse with CustomizationID {customization!r} "
                f"(expected {known}); force one with rules=t111 or rules=t71",
            )
        return rule_set, None
    # Reminder (no official Peppol rule set) and unsupported roots: XSD only.
    return None, None


def _saxon_document(xml: bytes, tree: etree._ElementTree) -> Any:
    """Parse the (already vetted) bytes once into a Saxon tree shared by every stylesheet."""
    encoding = (tree.docinfo.encoding or "UTF-8").lower()
    text = xml.decode("utf-8-sig" if encoding in ("utf-8", "utf8") else encoding)
    try:
        return saxon_processor().parse_xml(xml_text=text)
    except Exception as exc:  # saxonche raises PySaxonApiError, not exported consistently
        raise xmlsafe.MalformedXml(f"not well-formed XML (Saxon): {exc}") from exc


def _schematron_issues(artefacts: _Artefacts, name: str, node: Any) -> list[Issue]:
    try:
        result = artefacts.stylesheet(name).transform_to_value(xdm_node=node)
    except Exception as exc:  # a dynamic error in an official rule: never report such a document valid
        return [Issue(RULE_SCHEMATRON_ERROR, "fatal", "/", f"{name} could not be evaluated: {exc}")]
    query = artefacts.svrl_query()
    query.set_context(xdm_item=result.head)
    findings = query.evaluate("/svrl:schematron-output/(svrl:failed-assert | svrl:successful-report)")
    issues: list[Issue] = []
    if findings is None:
        return issues
    for item in findings:
        element = item.get_node_value()
        location = short_location(element.get_attribute_value("location") or "/")
        text = " ".join(element.string_value.split())
        issues.append(
            Issue(
                rule=element.get_attribute_value("id") or name,
                flag=element.get_attribute_value("flag") or "fatal",
                location=location,
                message=f"{text} (at {location})",
            )
        )
    return issues


# --------------------------------------------------------------------------------------------
# Batches.

_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[int, Path] | None = None
# Waiting for every pool worker to be warm: how long a readiness probe holds its worker, and
# when to stop waiting (a worker that is still not ready then just joins late).
READY_PROBE_SECONDS = 0.05
POOL_START_TIMEOUT_SECONDS = 60.0


def _pool_initializer(standards_dir: str) -> None:
    # A worker only ever validates on its main thread, so that thread owns Saxon: no hand-off
    # to a separate Saxon thread per document.
    _note_saxon_thread()
    _artefacts(Path(standards_dir)).warm()


def _validate_in_worker(
    item: tuple[bytes | xmlsafe.XmlRejected, str | None], *, rules: str, continue_after_xsd: bool, standards_dir: Path, max_bytes: int
) -> ValidationReport:
    xml, file = item
    if isinstance(xml, xmlsafe.XmlRejected):  # a file refused from its size, unread
        return rejected_report(file, xml)
    try:
        return validate_document(
            xml, rules=rules, continue_after_xsd=continue_after_xsd, file=file, standards_dir=standards_dir, max_bytes=max_bytes
        )
    except xmlsafe.XmlRejected as exc:
        return rejected_report(file, exc)


def _read_or_refusal(path: Path, max_bytes: int) -> bytes | xmlsafe.XmlRejected:
    try:
        return read_local_document(path, max_bytes)
    except xmlsafe.XmlTooLarge as refused:
        return refused


def _worker_pid() -> int:
    time.sleep(READY_PROBE_SECONDS)  # long enough that one worker cannot answer every probe
    return os.getpid()


def _get_pool(workers: int, standards_dir: Path) -> ProcessPoolExecutor:
    """A warm pool is kept for the life of the process: starting a worker costs ~1-2 s (compiling).

    The pool is returned only once every worker has loaded the artefacts, so the first batch is
    spread over all cores instead of waiting for late starters.
    """
    global _pool, _pool_key
    key = (workers, standards_dir)
    if _pool is not None and _pool_key == key:
        return _pool
    shutdown_pool()
    # spawn, not fork: a forked child would inherit a parent's Saxon isolate in an unusable state.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_pool_initializer,
        initargs=(str(standards_dir),),
    )
    ready: set[int] = set()
    deadline = time.monotonic() + POOL_START_TIMEOUT_SECONDS
    # Each probe submitted while no worker is idle spawns one more worker (up to `workers`).
    while len(ready) < workers and time.monotonic() < deadline:
        ready.update(future.result() for future in [pool.submit(_worker_pid) for _ in range(workers)])
    _pool, _pool_key = pool, key
    return pool


def shutdown_pool() -> None:
    global _pool, _pool_key
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool, _pool_key = None, None


atexit.register(shutdown_pool)


def validate_many(
    paths_or_bytes: Sequence[Path | str | bytes],
    workers: int | None = None,
    *,
    rules: str = "auto",
    continue_after_xsd: bool = False,
    standards_dir: Path | None = None,
    max_bytes: int = xmlsafe.MAX_XML_BYTES,
) -> list[ValidationReport]:
    """Validate a batch on every core; reports come back in input order.

    A path is read here and reported under its name; bytes are reported with file=None. Unsafe
    or malformed documents, and files over `max_bytes` (not read), give a report with an XML
    error instead of stopping the batch.
    `workers` defaults to the number of cores; 1 (or a single document) validates in-process.
    """
    if rules not in RULE_CHOICES:
        raise ValueError(f"rules must be one of {', '.join(RULE_CHOICES)}, not {rules!r}")
    directory = (Path(standards_dir) if standards_dir is not None else get_settings().standards_dir).resolve()
    check_installed(directory)  # fail fast in the parent, before any worker starts
    items = [(item, None) if isinstance(item, (bytes, bytearray)) else (_read_or_refusal(Path(item), max_bytes), str(item)) for item in paths_or_bytes]
    run = partial(_validate_in_worker, rules=rules, continue_after_xsd=continue_after_xsd, standards_dir=directory, max_bytes=max_bytes)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count <= 1 or len(items) <= 1:
        return [run(item) for item in items]
    pool = _get_pool(count, directory)
    # Chunks amortise the inter-process round trip; several per worker keep the load balanced.
    chunksize = max(1, len(items) // (count * 4))
    return list(pool.map(run, items, chunksize=chunksize))
