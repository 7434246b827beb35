"""`keydub weights list` / `keydub weights download`: where model weights come from, and fetching them."""

import argparse

from keydub.core.weights import REGISTRY, download_weights, list_weights, weights_config_path
from keydub.plugin.cli._output import ProgressBar, add_output_flags, print_json


EXAMPLES = """examples:
  keydub weights list
  keydub weights download                  # everything a render needs
  keydub weights download hubert wavlm     # just these
  keydub weights download sam2             # the optional occlusion model
  keydub weights download syncnet          # the optional lip-sync scorer of keydub eval protocol
  HF_HUB_OFFLINE=1 keydub weights list     # what is available offline

Components: {components}.
Local folders instead of the hub: a [weights] table in {config}
(or the file named by KEYDUB_WEIGHTS_CONFIG), e.g.
  [weights]
  vae = "/models/svd/vae"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list or download model weights",
        description="Model weights come from local folders named in the weights config, else from the Hugging\n"
        "Face hub (cached by huggingface_hub), or for the face-alignment and SyncNet files from their release\n"
        "URLs into torch hub's checkpoint folder. The KeySync checkpoints are converted once after download.",
        epilog=EXAMPLES.format(components=", ".join(REGISTRY), config=weights_config_path()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="show where each component comes from and whether it is here")
    add_output_flags(listing, quiet=False, result="the list")
    listing.set_defaults(func=run_list)

    download = actions.add_parser(
        "download", help="fetch components into the Hugging Face cache (and convert the KeySync checkpoints)"
    )
    download.add_argument(
        "components",
        nargs="*",
        metavar="COMPONENT",
        help=f"what to fetch, among {', '.join(REGISTRY)} (default: all but the optional "
        f"{', '.join(name for name, component in REGISTRY.items() if component.optional)})",
    )
    add_output_flags(download, quiet=False, result="component -> local path")
    download.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    statuses = list_weights()
    if args.json:
        print_json([status.to_dict() for status in statuses])
        return 0
    width = max(len(name) for name in REGISTRY)
    for status in statuses:
        print(f"{status.component:<{width}}  {status.state:<8}  {status.origin}: {status.source}")
        print(f"{'':<{width}}  {'':<8}  {status.path or status.detail}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    # The converter loads torch and diffusers: imported here so that the other weights commands start fast.
    from keydub.core.model.convert import converted_checkpoint

    with ProgressBar(disable=args.json) as progress:
        paths = download_weights(args.components or None, progress=progress, convert=converted_checkpoint)
    if args.json:
        print_json({name: str(path) for name, path in paths.items()})
    else:
        for name, path in paths.items():
            print(f"{name}: {path}")
    return 0
