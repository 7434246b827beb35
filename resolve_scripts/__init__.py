"""The scripts Keydub puts in DaVinci Resolve's Workspace > Scripts menu (`Keydub.py`), shipped inside the package.

Nothing here is imported by Keydub: `keydub resolve install-scripts` reads `Keydub.py` as a file through
`importlib.resources`, so an installed wheel has it as well as a source checkout.
"""
