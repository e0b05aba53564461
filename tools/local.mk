# tools/: one thin main per tool over the library, plus the shared option helpers.
