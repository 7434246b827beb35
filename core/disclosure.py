"""What every Keydub render is, in the words its Content Credentials, the output timeline's clip metadata and the
Resolve marker all use. Standard library only: the Resolve bridge reads it too."""

DISCLOSURE_LABEL = "AI-modified: lower face"
