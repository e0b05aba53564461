/* infotok/infotok.h: all of libinfotok's public API, for programs that want the whole:
 *   core.h        errors, versions, logging, hashing, video sources and decoding, manifests,
 *                 temporal windows, pixels (start here)
 *   weights.h     weight files (native and the official PyTorch checkpoint) and model configs
 *   model.h       the InfoTok network: load, frames -> tokens + ELBO map, tokens -> frames
 *   encode.h      a video through the tokenizer, window records out
 *   rate.h        rate allocation (static, elbo, global_elbo) and the corpus statistic
 *   stream.h      the token stream between the tools (infotok-stream(5))
 *   shard.h       token shards (infotok-shard(5))
 *   records.h     streams or shards through one reader, re-allocating on the way
 *   decode.h      token records back to frames
 *   video_write.h frames to video files
 *   quality.h     PSNR and SSIM
 * Build with `pkg-config --cflags --libs infotok`; examples/tokenize_one.c is a whole program. */
#ifndef INFOTOK_INFOTOK_H
#define INFOTOK_INFOTOK_H

#include "infotok/core.h"
#include "infotok/decode.h"
#include "infotok/encode.h"
#include "infotok/model.h"
#include "infotok/quality.h"
#include "infotok/rate.h"
#include "infotok/records.h"
#include "infotok/shard.h"
#include "infotok/stream.h"
#include "infotok/video_write.h"
#include "infotok/weights.h"

#endif
