"""`keydub provenance setup | show | verify`: who signs renders, and what a rendered file's Content Credentials say.

A thin shell over `keydub.core.provenance`: `setup` configures the signing certificate and key once (or goes back to
the local identity), `show` prints a file's manifest and how it validates, `verify` checks a file in one line and
exits non-zero when its credentials do not hold for it (its pixels changed after signing, say).
"""

import argparse
from pathlib import Path
from typing import Any

from keydub.plugin.cli._output import print_json


EXAMPLES = """examples:
  keydub provenance setup                                     # who signs now (makes the local identity once)
  keydub provenance setup --cert studio-chain.pem --key studio.key
  keydub provenance setup --local                             # back to the local identity
  keydub provenance show shot_010_dub.mov
  keydub provenance show shot_010_dub.mkv --json              # reads shot_010_dub.c2pa beside it
  keydub provenance verify shot_010_dub.mov
  keydub provenance verify shot_010_dub.mov --trust-anchors studio-ca.pem

The certificate must be issued by a CA (c2pa refuses a self-signed one): key usage digitalSignature, extended
key usage emailProtection, an authority key identifier; --cert lists it first, then its CA. Without one,
renders are signed with a local identity that Keydub makes on first use and no validator trusts.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `provenance` command."""
    parser = subparsers.add_parser(
        "provenance",
        help="set up who signs renders, and show or verify a render's Content Credentials (C2PA)",
        description="Every render carries signed Content Credentials (C2PA) saying that its lower face was "
        "regenerated, from which source and dub, with which model and settings: embedded in .mov/.mp4, in a "
        ".c2pa file beside other containers.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    setup = actions.add_parser(
        "setup", help="sign with your certificate and key from now on (without options: show who signs)"
    )
    chosen = setup.add_mutually_exclusive_group()
    chosen.add_argument("--cert", type=Path, metavar="PEM", help="certificate chain, signing certificate first")
    chosen.add_argument("--local", action="store_true", help="forget the configured pair; use the local identity")
    setup.add_argument("--key", type=Path, metavar="PEM", help="the certificate's private key (mode 0600)")
    setup.add_argument("--json", action="store_true", help="print the identity as JSON on stdout")
    setup.set_defaults(func=run_setup)

    for name, help_text, func in (
        ("show", "print what a file's Content Credentials say and whether they hold for it", run_show),
        ("verify", "check a file's Content Credentials; non-zero exit when they do not hold for it", run_verify),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("file", type=Path, metavar="FILE", help="a rendered file (.mov, .mp4, or .mkv + .c2pa)")
        action.add_argument(
            "--trust-anchors",
            type=Path,
            metavar="PEM",
            help="CA certificates to trust (e.g. your studio's); verify then also requires a trusted signer",
        )
        action.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
        action.set_defaults(func=func)


def run_setup(args: argparse.Namespace) -> int:
    from keydub.core.errors import InvalidParameterError
    from keydub.core.provenance import configure_identity, signing_identity, use_local_identity

    if (args.cert is None) != (args.key is None):
        raise InvalidParameterError("--cert and --key go together: pass the certificate chain and its private key")
    if args.cert is not None:
        identity = configure_identity(args.cert, args.key)
    elif args.local:
        identity = use_local_identity()
    else:
        identity = signing_identity()
    if args.json:
        print_json(identity.to_dict())
    else:
        print(f"renders are signed by: {identity.label}")
        print(f"  certificate chain: {identity.certificate_chain}")
        print(f"  private key:       {identity.private_key} ({identity.algorithm})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from keydub.core.provenance import read_credential

    report = read_credential(args.file, args.trust_anchors)
    if args.json:
        print_json(report.to_dict())
    else:
        print(format_report(report.to_dict()))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from keydub.core.provenance import verify_credential

    report = verify_credential(args.file, args.trust_anchors)
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"OK: {args.file}: Content Credentials valid and bound to this file (manifest {report.manifest_id}; "
            f"signed by {report.signer}, {report.trust_label})"
        )
    return 0


def format_report(report: dict[str, Any]) -> str:
    """`CredentialReport.to_dict()` as text, one fact per line."""
    where = "embedded" if report["sidecar"] is None else f"in the sidecar {report['sidecar']}"
    lines = [
        report["path"],
        f"  manifest:   {report['manifest_id']} ({where})",
        f"  validation: {report['state']}; binds this file: {'yes' if report['binds_file'] else 'NO'}",
        f"  signed by:  {report['signer']} ({report['trust']})",
    ]
    lines += [f"  failure:    {item['code']}: {item['explanation']}" for item in report["failures"]]
    lines += [f"  made with:  {tool.get('name')} {tool.get('version', '')}" for tool in report["claim_generator"]]
    for action in report["actions"]:
        source_type = action.get("digitalSourceType", "").rsplit("/", 1)[-1]
        lines.append(f"  action:     {action['action']}{f' ({source_type})' if source_type else ''}")
        if action.get("description"):
            lines.append(f"              {action['description']}")
        for change in action.get("changes", []):
            frames = [item["frame"] for item in change.get("region", []) if "frame" in item]
            spans = ", ".join(f"{frame['start']}-{frame['end']}" for frame in frames)
            lines.append(f"              {change.get('name', 'region')}: output frames {spans}")
    for ingredient in report["ingredients"]:
        digest = ingredient["sha256"] or "(no hash stated)"
        lines.append(
            f"  ingredient: {ingredient['relationship']} {ingredient['title']} ({ingredient['format']}) "
            f"sha256 {digest}"
        )
    render = report["render"]
    if render is not None:
        weights = render["model"]["weights_sha256"]
        frames = render["frames"]
        lines.append(f"  model:      {render['model']['name']}, {len(weights)} weight files (sha256 in --json)")
        lines.append("  sampler:    " + ", ".join(f"{name} {value}" for name, value in render["sampler"].items()))
        lines.append(
            f"  frames:     source {_span(frames['source_range'])} at {frames['frame_rate']} fps; regenerated "
            f"{', '.join(_span(item) for item in frames['regenerated']) or 'none'}"
        )
        for item in frames["passed_through"]:
            lines.append(f"              passed through {_span(item)}: {item['reason']}")
    return "\n".join(lines)


def _span(frames: dict[str, int]) -> str:
    return f"{frames['first']}-{frames['last']}"
