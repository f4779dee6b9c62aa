"""perfdb."""
