"""The certificate PDF: render and sign, against WeasyPrint alone and pyHanko's signing alone.

Three measurements in one run, milliseconds per certificate (median of the rounds):

- WeasyPrint alone: the whole certificate template, values and all, laid out and written as a
  PDF (what rendering each certificate with WeasyPrint would cost, before any signature);
- pyHanko signing alone: PAdES-B-B over an already rendered certificate;
- our pipeline: the frame (WeasyPrint, once per process, not counted) with this certificate's
  values and QR code set into it, then signed: what a first download costs.

Each certificate has different names and a new QR seal, so nothing per certificate is cached.
Goal (issue 4): the pipeline under 150 ms per certificate.

    python bench/pdf.py [--n 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from birthreg.pki.seals import Seal
from birthreg.registry import certificate as pdf
from signing.ca import CertificationAuthority, Organisation, Profile
from signing.seal import make_seal, qr_text

MOMENT = datetime(2026, 6, 1, 12, tzinfo=UTC)
GIVEN_NAMES = ("Айару", "Аружан", "Нұрсұлтан", "Әлихан", "Томирис", "Інжу", "Ерасыл", "Медина")


def _seal() -> Seal:
    ca = CertificationAuthority.create(base_url="http://bench.test", moment=MOMENT)
    key, certificate = ca.issue_with_new_key(
        Organisation(bin="050140000021", name="Өскемен қаласының АХАЖ бөлімі"),
        profile=Profile.ORGANISATION_SEAL,
        moment=MOMENT,
    )
    return Seal(key, certificate, (*ca.chain, ca.root_certificate))


def _certificate(index: int, seal: Seal) -> tuple[dict[str, Any], str]:
    fields: dict[str, Any] = {
        "certificate_number": f"TEST-I № {index + 1:06d}",
        "child": {
            "surname": "Әбілқасымова",
            "given_name": GIVEN_NAMES[index % len(GIVEN_NAMES)],
            "patronymic": "Ерланқызы",
            "date_of_birth": "2026-05-30",
            "place_of_birth": "Өскемен қалалық перзентханасы (TEST)",
            "sex": "F",
            "iin": f"2605306{index % 10000:04d}1",
        },
        "mother": {"surname": "Әбілқасымова", "given_name": "Гүлнұр", "patronymic": "Серікқызы",
                   "nationality": None},
        "father": {"surname": "Әбілқасымов", "given_name": "Ерлан", "patronymic": "Болатұлы",
                   "nationality": None},
        "act_record": {"number": index + 1, "year": 2026, "date": "2026-06-01"},
        "registry_office": {"code": "ESK-01", "bin": "050140000021",
                            "name": "Өскемен қаласының АХАЖ бөлімі (TEST)"},
        "issued_at": MOMENT.isoformat(),
    }
    sealed = pdf.seal_fields(fields)
    sealed["child_iin"] = "260530600011"
    sealed["issued_on"] = date(2026, 6, 1)
    return fields, qr_text("https://birthreg.test", make_seal(sealed, seal.key, seal.certificate))


def _per_item(function: Callable[[int], object], n: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for index in range(n):
            function(index)
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="certificates per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    seal = _seal()
    certificates = [_certificate(index, seal) for index in range(args.n)]
    rendered = pdf.render_certificate_pdf_weasyprint(*certificates[0])
    # Warm up: fonts, the frame (laid out once per process), the signer.
    pdf.signed_certificate_pdf(*certificates[0], seal)

    weasyprint_ms = _per_item(
        lambda i: pdf.render_certificate_pdf_weasyprint(*certificates[i]), args.n, args.rounds
    )
    signing_ms = _per_item(lambda i: pdf.sign_pdf(rendered, seal), args.n, args.rounds)
    overlay_ms = _per_item(
        lambda i: pdf.render_certificate_pdf(*certificates[i]), args.n, args.rounds
    )
    pipeline_ms = _per_item(
        lambda i: pdf.signed_certificate_pdf(*certificates[i], seal), args.n, args.rounds
    )

    print(f"certificate PDF, {args.n} certificates x {args.rounds} rounds "
          f"({platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()})")
    print(f"  WeasyPrint alone (whole template)   {weasyprint_ms:8.1f} ms/certificate")
    print(f"  pyHanko PAdES signing alone         {signing_ms:8.1f} ms/certificate")
    print(f"  our render (frame + values + QR)    {overlay_ms:8.1f} ms/certificate")
    print(f"  our pipeline (render + sign)        {pipeline_ms:8.1f} ms/certificate"
          f"   goal < 150 ms: {'met' if pipeline_ms < 150 else 'NOT met'}")
    print(f"  pipeline / WeasyPrint alone         {pipeline_ms / weasyprint_ms:8.2f}")
    print(f"  pipeline / signing alone            {pipeline_ms / signing_ms:8.2f}")


if __name__ == "__main__":
    main()
