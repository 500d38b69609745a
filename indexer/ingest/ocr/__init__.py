"""OCR: recognising the text of scanned pages and images.

`base` holds the settings and the engine interface; `tesseract` and `rapid` are the engines; `cache` keeps
what was recognised by the page's content; `pages` renders PDF pages, decides which need OCR and recognises
them in parallel; `factory` picks and loads the engine the settings name.
"""
