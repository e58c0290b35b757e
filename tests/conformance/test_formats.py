"""The conformance suite, run over every registered format plugin (vendor ones included),
and shown to fail on a plugin that breaks the rules."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.errors import FormatError
from gateway.formats import FormatHandler
from gateway.plugins import Registry, build_plugin_manager
from gateway.schemas import load_invoice
from gateway.testing import formats as suite
from tests.conftest import DATA, EXAMPLES, make_config, registered_formats
from tests.invoices import as_parsed
from tests.strategies import invoices as generated_invoices

#: Where the valid samples of each format are; a format without samples fails the suite.
SAMPLE_GLOBS = {
    "json": (EXAMPLES, "*.json"),
    "ubl": (DATA / "xml", "ubl-*.xml"),
    "cii": (DATA / "xml", "cii-*.xml"),
    "zip": (DATA / "xml", "*.zip"),
    "csv": (DATA / "csv", "*.csv"),
    "edifact": (DATA / "edifact", "*.edi"),
    "liseron": (DATA / "vendor", "*.lis"),
}


def sample_paths(name: str) -> list:
    folder, pattern = SAMPLE_GLOBS.get(name, (None, None))
    return sorted(folder.glob(pattern)) if folder else []


#: Formats whose samples are rendered from the examples (their bytes vary with time).
RENDERED = {"facturx": "facturx"}
XML_FORMATS = {"ubl", "cii", "facturx", "zip"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformance")
    pm, failures = build_plugin_manager()
    return Registry(pm, make_config(tmp, f"sqlite:///{tmp / 'g.sqlite3'}"), failures)


@pytest.fixture(scope="module")
def samples(registry, tmp_path_factory):
    rendered_dir = tmp_path_factory.mktemp("rendered")
    table = {}
    for name in registry.formats:
        paths = sample_paths(name)
        if name in RENDERED:
            renderer = registry.renderers[RENDERED[name]]
            for example in sorted(EXAMPLES.glob("*.json")):
                invoice = load_invoice(json.loads(example.read_text()))
                target = rendered_dir / f"{example.stem}.{renderer.extension}"
                target.write_bytes(renderer.render(invoice))
                paths.append(target)
        table[name] = paths
    return table


FORMATS = registered_formats().names()


def test_the_suite_covers_builtin_and_vendor_formats():
    assert {"json", "ubl", "cii", "facturx", "zip", "csv", "edifact"} <= set(FORMATS)
    assert "liseron" in FORMATS, (
        "the vendor example (contrib/vendor_plugin_example) is not installed"
    )


@pytest.mark.parametrize("name", FORMATS)
def test_declaration(registry, name):
    suite.check_declaration(registry.formats[name])


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_has_samples(samples, name):
    assert samples[name], f"no sample for format {name}: add some under tests/data/"


@pytest.mark.parametrize("name", FORMATS)
def test_sniff(registry, samples, name):
    suite.check_sniff(registry.formats[name], samples[name])


@pytest.mark.parametrize("name", FORMATS)
def test_the_registry_sniffs_each_sample_as_its_own_format(registry, samples, name):
    """Sniffing asks the formats in order (docs/plugins.md): none may claim another's sample."""
    for sample in samples[name]:
        assert registry.sniff(sample.read_bytes()).name == name, sample.name


@pytest.mark.parametrize("name", FORMATS)
def test_parse(registry, samples, name):
    suite.check_parse(registry.formats[name], samples[name])


@pytest.mark.parametrize("name", FORMATS)
def test_malformed(registry, samples, name):
    suite.check_malformed(registry.formats[name], samples[name])


@pytest.mark.parametrize("name", FORMATS)
def test_hostile_xml(registry, name, tmp_path):
    suite.check_hostile_xml(registry.formats[name], tmp_path)


@pytest.mark.parametrize("renderer_name", ["ubl", "cii", "facturx"])
@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.json")))
def test_render_then_parse_gives_the_invoice_back(registry, renderer_name, example):
    from gateway.schemas import dump_invoice

    invoice = load_invoice(json.loads((EXAMPLES / f"{example}.json").read_text()))
    document = registry.renderers[renderer_name].render(invoice)
    handler = registry.sniff(document)
    assert handler is not None, f"no format recognises what {renderer_name} renders"
    (parsed,) = handler.parse(document)
    assert dump_invoice(parsed.with_computed_amounts()) == dump_invoice(
        invoice.with_computed_amounts()
    )


# --- the suite catches a plugin that breaks the rules ---------------------------------------


class CarelessFormat(FormatHandler):
    """Raises whatever its parser raises, sniffs by indexing, resolves XML entities."""

    name = "careless"
    media_types = ("text/x-careless",)
    extensions = ("txt",)

    def sniff(self, data: bytes) -> bool:
        return data[0] == ord("C")  # IndexError on empty input

    def parse(self, data: bytes):
        from lxml import etree

        if data.startswith(b"<"):
            parser = etree.XMLParser(resolve_entities=True, no_network=False, load_dtd=True)
            root = etree.fromstring(data, parser)
            raise FormatError(f"XML non reconnu : {etree.tostring(root, encoding=str)}")
        number, amount = data.decode().split(";")  # ValueError, UnicodeDecodeError
        raise FormatError(f"montant {float(amount)} pour {number}")


def test_the_suite_fails_a_careless_plugin(tmp_path):
    careless = CarelessFormat()
    sample = tmp_path / "one.txt"
    sample.write_bytes(b"C-1;12.50")
    with pytest.raises(AssertionError, match="sniff raised"):
        suite.check_sniff(careless, [sample])
    with pytest.raises(AssertionError, match="instead of FormatError"):
        suite.check_malformed(careless, [sample])
    with pytest.raises(AssertionError, match="the file was read|instead of FormatError|fetched"):
        suite.check_hostile_xml(careless, tmp_path)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(invoice=generated_invoices())
def test_generated_invoices_survive_every_renderer_and_parser(registry, invoice):
    """Every renderer whose output a registered format reads gives the invoice back."""
    for renderer in registry.renderers.values():
        if renderer.name in ("pdf", "pdf-copy"):
            continue  # the plain PDF and its copy, for people, carry no data to read back
        document = renderer.render(invoice)
        handler = registry.sniff(document)
        assert handler is not None, f"no format reads what {renderer.name} renders"
        assert handler.parse(document) == [as_parsed(invoice)], f"{renderer.name} → {handler.name}"
