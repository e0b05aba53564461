# formats/stream.mk: the token stream (formats/tokstream.h, infotok-stream(5)).
