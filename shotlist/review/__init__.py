"""The review app: the cut, the storyboard strip and every take of every shot, in a browser (``shotlist review``)."""
