# man/: one page per tool (section 1), per format (section 5), and an overview (section 7).
dist_man_MANS += man/it-scan.1 man/it-encode.1 man/infotok.7
