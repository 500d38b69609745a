"""OCR: recognising the text of scanned pages and images.

`base` holds the settings, the engine interface and the recognised page; `tesseract` and `rapid` are the engines;
`cache` keeps what was recognised by the page's content; `deskew` finds a scanned page's skew so it is turned
straight first; `recognizer` loads the engine the settings name and recognises a file's pages, from the cache or
several at once. Readers decide which pages need OCR and render them (`indexer.ingest.readers`).
"""
