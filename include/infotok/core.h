/* infotok.h: the public interface of libinfotok, the library under the it-* tools.
 *
 * Caveats first:
 *  - Every function that can fail returns an int: 0 (IT_OK) or a negative IT_E_* code.
 *    The code says what kind of failure; it_error_message() says, for the calling thread,
 *    which input and what was wrong with it ("clip.mp4: member not found in archive").
 *  - Objects are not shared between threads unless a function says so. Different objects
 *    may be used from different threads at once.
 *  - Pixel data is RGB24, row-major, frame-major: [T][H][W][3] uint8.
 *  - Every input from outside (files, archives, manifests) is treated as hostile:
 *    a malformed input yields an error code, never a crash.
 */
#ifndef INFOTOK_H
#define INFOTOK_H

#include <stddef.h>
#include <stdint.h>

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors: a reserved negative range, one strerror ---------------------------------- */
enum {
    IT_OK = 0,
    IT_E_FIRST = -30900,
    IT_E_NOMEM = IT_E_FIRST, /* out of memory */
    IT_E_IO,                 /* a read, write, open or rename failed */
    IT_E_FORMAT,             /* an input is malformed */
    IT_E_UNSUPPORTED,        /* well-formed, but not something this build handles */
    IT_E_INVALID,            /* a bad argument or option value */
    IT_E_NOTFOUND,           /* a named thing (file, member, stream, tensor) is missing */
    IT_E_DECODE,             /* the media decoder failed */
    IT_E_TRUNCATED,          /* an input ends early */
    IT_E_CHECKSUM,           /* a checksum does not match */
    IT_E_SHAPE,              /* a tensor has the wrong shape or type */
    IT_E_INTERNAL,           /* a bug: an invariant broke */
    IT_E_LAST = IT_E_INTERNAL
};

/* A short, static description of a code (IT_E_* or 0). */
const char *it_strerror(int code);
/* The detailed message of the last failure on this thread, or "" if there is none. */
const char *it_error_message(void);
/* Record a failure message for this thread (printf-style) and return code. */
int it_error_set(int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void it_error_clear(void);

/* ---- versions -------------------------------------------------------------------------- */
const char *it_version(void);
/* "infotok X (FFmpeg libavformat A, libavcodec B, ...; zstd C; LMDB D; libarchive E; jansson F)" */
const char *it_version_long(void);

/* The bundled model: $INFOTOK_MODEL if set, else the installed copy (its path is returned
 * even if missing); a library running from the build tree it was built in (not installed)
 * takes the copy in its source tree instead. */
const char *it_default_model_path(void);

/* ---- precision ------------------------------------------------------------------------- */
/* The arithmetic of the network (infotok-precision(7)): fp32, or bf16 between ops with fp32
 * inside each op. Recorded in every token stream's header. */
enum it_precision { IT_PRECISION_FP32 = 0, IT_PRECISION_BF16 = 1, IT_PRECISION_COUNT };
/* "fp32", "bf16"; NULL for an unknown value. */
const char *it_precision_name(int precision);
/* IT_PRECISION_* for "fp32"/"bf16"; IT_E_INVALID (message set) otherwise. */
int it_precision_parse(const char *name, int *precision);

/* ---- hashing ----------------------------------------------------------------------------- */
/* 64-bit FNV-1a (Fowler/Noll/Vo): start from IT_FNV1A64_INIT, then h = (h ^ byte) * 2^40+2^8+0xb3
 * for each byte; chain calls by passing the previous result. Source ids, model hashes and
 * it-stats' token checksum are all this function. */
#define IT_FNV1A64_INIT 0xcbf29ce484222325ULL /* 14695981039346656037, FNV's offset basis */
uint64_t it_fnv1a64(uint64_t h, const void *p, size_t n);

/* ---- logging: messages go to stderr as "<prefix>: message" ------------------------------- */
enum { IT_LOG_QUIET = 0, IT_LOG_ERROR, IT_LOG_WARN, IT_LOG_INFO, IT_LOG_DEBUG };
void it_log_set_prefix(const char *prefix);
void it_log_set_level(int level);
int it_log_level(void);
void it_log(int level, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- video sources --------------------------------------------------------------------- */
/* A video lives in a file, or in a member of a tar/zip archive (member != NULL).
 * Archive members are streamed through libarchive, never extracted to disk. */
typedef struct it_source {
    const char *path;
    const char *member; /* NULL for a plain file */
} it_source;

/* Archives (tar, tar.gz/bz2/xz/zst, zip). it_archive_list calls cb for each regular member,
 * in archive order; a nonzero return from cb stops the listing and is returned. */
typedef int (*it_member_cb)(void *user, const char *member, int64_t size);
int it_archive_list(const char *path, it_member_cb cb, void *user);
int it_is_archive_path(const char *path); /* by suffix */

/* What a probe learns about a video without decoding it (or, with count_frames, decoding it). */
typedef struct it_probe_info {
    char container[64];   /* demuxer name as FFmpeg gives it, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    char codec[32];       /* video codec name */
    char pix_fmt[32];     /* native pixel format name */
    int width, height;    /* coded size, before rotation */
    int rotation;         /* display matrix rotation as ffprobe reports it (counter-clockwise
                             degrees: 0, 90, 180, 270); decoded frames are delivered upright */
    double fps;           /* average frame rate, 0 if unknown */
    double duration;      /* seconds, <0 if unknown */
    int64_t frames;       /* frame count, <0 if unknown */
    int frames_exact;     /* 1 when frames was counted by decoding */
    int has_audio;
    int64_t bit_rate;     /* bits per second, <=0 if unknown */
    int64_t size;         /* bytes of the file or member */
} it_probe_info;

/* Probe a source. count_frames != 0 decodes the whole stream to count frames exactly. */
int it_probe(const it_source *src, int count_frames, it_probe_info *info);

/* Decoding options. Zero-initialise, then set what you need. */
typedef struct it_video_opts {
    int threads;     /* decoder threads; 0 = library default (1) */
    int short_side;  /* >0: resize so the shorter side is this many pixels (aspect kept) */
    int crop_w;      /* >0 with crop_h: center-crop to crop_w x crop_h after resizing */
    int crop_h;
} it_video_opts;

typedef struct it_video it_video;

/* Open a source for decoding to RGB24. Rotation metadata is applied, so width/height
 * are the displayed size after rotation, resize and crop. */
int it_video_open(it_video **out, const it_source *src, const it_video_opts *opts);
void it_video_close(it_video **v); /* NULL-safe; sets *v = NULL */
int it_video_width(const it_video *v);
int it_video_height(const it_video *v);
double it_video_fps(const it_video *v); /* average rate, 0 if unknown */
/* Decode the next frame into rgb (width*height*3 bytes) and its presentation time in seconds
 * (NAN if the stream has none). Returns 1 for a frame, 0 at the end, <0 on error. */
int it_video_read(it_video *v, uint8_t *rgb, double *pts);

/* ---- manifests: JSON Lines, one video per line (it-scan's output, it-encode's input) ---- */
/* The stable id of a source: 16 hex digits of a 64-bit FNV-1a hash of path, NUL, member. */
void it_source_id(const it_source *src, char id[17]);
/* The content id of a source (it-scan --id content): 16 hex digits of the 64-bit FNV-1a hash
 * of its bytes (a member's bytes for an archive member), so that it survives renaming and
 * moving, and two copies of one file share it. Reads the whole file. IT_E_IO / IT_E_NOTFOUND
 * naming the source when it cannot be read. */
int it_source_content_id(const it_source *src, char id[17]);

/* One manifest line. Strings are owned by the entry (it_manifest_entry_clear frees them).
 * Its id is the line's "id" when it has one (it-scan writes one: a path or a content id),
 * else it_source_id() of its path and member. */
typedef struct it_manifest_entry {
    char id[17];
    char *path, *member;   /* member NULL for a plain file */
    int ok;                /* status "ok" */
    char *error;           /* the message when !ok */
    it_probe_info info;    /* meaningful when ok */
} it_manifest_entry;

/* Format an entry as one JSON object, without newline; *line is malloc'ed. */
int it_manifest_format(const it_manifest_entry *e, char **line);
/* Parse one line; `where` names it in errors ("manifest.jsonl:12"). */
int it_manifest_parse(const char *line, size_t len, const char *where, it_manifest_entry *e);
void it_manifest_entry_clear(it_manifest_entry *e);

/* ---- temporal windows (spec §4.2) -------------------------------------------------------- */
/* Window i covers frames [i*step, min(i*step + tw, n)) with step = tw - ov; a video of n <= tw
 * frames is one window, otherwise ceil((n - tw) / step) + 1 windows. */
int64_t it_window_count(int64_t n, int tw, int ov);

/* How one window is padded for the network and cropped back: the padded window has
 * T frames (T-1 divisible by 8, edge-replicated) of H x W (multiples of 16, zero-padded);
 * floor(pad/2) goes before (front/top/left), the rest after. */
typedef struct it_pad {
    int t, h, w;             /* unpadded size */
    int pt, ph, pw;          /* padded size */
    int t0, h0, w0;          /* pad before: the crop starts here */
} it_pad;
void it_pad_compute(int t, int h, int w, it_pad *pad);

/* One decoded window, padded and ready for the network. */
typedef struct it_window {
    int64_t index;           /* window number in the video */
    int64_t first;           /* source frame index of its first unpadded frame */
    it_pad pad;
    uint8_t *rgb;            /* [pad.pt][pad.ph][pad.pw][3] */
    double *pts;             /* [pad.t] timestamps of the unpadded frames (NAN if unknown) */
    int last;                /* 1 for the video's final window */
} it_window;

typedef struct it_windower it_windower;

/* Cut a video into windows of tw frames overlapping by ov (0 <= ov < tw). Memory holds one
 * window, whatever the video's length. The windower does not own v. */
int it_windower_new(it_windower **out, it_video *v, int tw, int ov);
/* Fill the next window; returns 1 with a window, 0 at the end, <0 on error. The window's
 * buffers stay valid until the next call. */
int it_windower_next(it_windower *wd, const it_window **win);
void it_windower_free(it_windower **wd);

/* ---- pixels <-> network input/output ------------------------------------------------------ */
/* rgb [T][H][W][3] -> x [3][T][H][W] = rgb/255*2-1 (computed in double, rounded to float). */
void it_pixels_from_u8(int t, int h, int w, const uint8_t *rgb, float *x);
/* y [3][T][H][W] in [-1,1] -> rgb, round((y+1)/2 clamped * 255) half up; with crop, only the
 * unpadded region [crop->t][crop->h][crop->w][3] is written (crop may be NULL). */
void it_pixels_to_u8(int t, int h, int w, const float *y, const it_pad *crop, uint8_t *rgb);

/* Join two windows that share k frames (spec §4.8): out[i] = clip(a_i*prev + (1-a_i)*next)
 * truncated to uint8, a_i = (k-i)/(k+1), in float32 as the official code computes it.
 * prev_tail: the previous window's last k frames; next_head: the next one's first k; each
 * frame_bytes bytes (H*W*3). k is min(overlap, frames of either window). */
void it_blend_overlap(int k, size_t frame_bytes, const uint8_t *prev_tail, const uint8_t *next_head,
                      uint8_t *out);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
