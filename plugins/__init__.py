"""First-party trackpipe stages, installed as ``tracking.plugins``.

They are registered through the ``trackpipe.plugins`` entry-point group of trackpipe's own
pyproject, exactly as a third-party package registers its plugins.
"""
