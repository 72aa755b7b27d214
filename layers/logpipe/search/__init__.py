"""Finding events: the ``q`` language (``query``), shared by the stream and the search API."""
