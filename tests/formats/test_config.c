/* test_config.c: the model config: the official values, JSON round trip, and refusals. */
#include "infotok/weights.h"
#include "test_util.h"

static const char brief_json[] =
    "{\"arch\":\"infotok-ours-4x8x8\",\"channels\":128,\"channels_mult\":[2,4,4],\"num_res_blocks\":2,"
    "\"z_channels\":256,\"embedding_dim\":6,\"levels\":[8,8,8,5,5,5],\"patch_size\":2,"
    "\"spatial_compression\":8,\"temporal_compression\":4,\"vit_hidden\":256,\"vit_intermediate\":512,"
    "\"vit_enc_layers\":8,\"vit_dec_layers\":8,\"vit_heads\":32,\"rope_theta\":10000.0,"
    "\"rms_norm_eps\":1e-5,\"max_latent_frames\":49,\"max_rope_size\":96,\"norm_eps\":1e-6}";

/* brief_json with the first occurrence of `from` replaced by `to`. */
static int parse_edit(const char *from, const char *to, it_config *c)
{
    char buf[2048];
    const char *p = strstr(brief_json, from);
    if (!p) {
        fprintf(stderr, "test bug: '%s' not in the JSON\n", from);
        exit(99);
    }
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - brief_json), brief_json, to, p + strlen(from));
    return it_config_parse(c, buf, strlen(buf), "cfg.json");
}

int main(void)
{
    it_config off = it_config_official(), c;
    char *json = NULL;

    CHECK_OK(it_config_validate(&off, "official"));
    CHECK(it_config_codebook_size(&off) == 64000);

    /* The schema's own example parses to the official config, field for field. */
    CHECK_OK(it_config_parse(&c, brief_json, strlen(brief_json), "brief"));
    CHECK(memcmp(&c, &off, sizeof c) == 0);

    /* Printing and parsing again gives the same struct, and the JSON keeps short reals. */
    CHECK_OK(it_config_to_json(&off, &json));
    if (json) {
        CHECK(strstr(json, "\"rope_theta\":10000.0"));
        CHECK(strstr(json, "\"rms_norm_eps\":1e-05"));
        CHECK(strstr(json, "\"norm_eps\":1e-06"));
        CHECK(strncmp(json, "{\"arch\":\"infotok-ours-4x8x8\",\"channels\":128,", 44) == 0);
        memset(&c, 0, sizeof c);
        CHECK_OK(it_config_parse(&c, json, strlen(json), "printed"));
        CHECK(memcmp(&c, &off, sizeof c) == 0);
        free(json);
    }

    /* A smaller network of the same family is fine. */
    CHECK_OK(parse_edit("\"channels\":128", "\"channels\":8", &c));
    CHECK(c.channels == 8);

    /* Refusals, each naming the key. */
    CHECK_ERR(parse_edit("\"z_channels\":256", "\"z_channels\":128", &c), IT_E_UNSUPPORTED,
              "z_channels (128) must equal vit_hidden (256)");
    CHECK_ERR(parse_edit("[8,8,8,5,5,5]", "[8,8,8,5,5,6]", &c), IT_E_UNSUPPORTED, "levels[5] = 6");
    CHECK_ERR(parse_edit("[8,8,8,5,5,5]", "[8,8,8,5,5]", &c), IT_E_FORMAT,
              "\"levels\" has 5 entries but embedding_dim is 6");
    CHECK_ERR(parse_edit("\"patch_size\":2", "\"patch_size\":4", &c), IT_E_UNSUPPORTED, "only 2/8/4");
    CHECK_ERR(parse_edit("[2,4,4]", "[2,4]", &c), IT_E_FORMAT, "\"channels_mult\" must be an array of 3");
    CHECK_ERR(parse_edit("[2,4,4]", "[2,4,0]", &c), IT_E_FORMAT, "channels_mult[2] = 0");
    CHECK_ERR(parse_edit("\"channels\":128", "\"channels\":128.5", &c), IT_E_FORMAT,
              "\"channels\" must be an integer");
    CHECK_ERR(parse_edit("\"channels\":128", "\"channels\":-1", &c), IT_E_FORMAT, "channels = -1 is out of range");
    CHECK_ERR(parse_edit("\"channels\":128", "\"channels\":99999999999", &c), IT_E_FORMAT, "out of range");
    CHECK_ERR(parse_edit("\"channels\":128,", "", &c), IT_E_FORMAT, "key \"channels\" is missing");
    CHECK_ERR(parse_edit("\"channels\":128", "\"channels\":128,\"dropout\":0", &c), IT_E_FORMAT,
              "unknown key \"dropout\"");
    CHECK_ERR(parse_edit("\"channels\":128", "\"channels\":128,\"channels\":64", &c), IT_E_FORMAT,
              "duplicate");
    CHECK_ERR(parse_edit("infotok-ours-4x8x8", "cosmos-dv", &c), IT_E_UNSUPPORTED, "arch \"cosmos-dv\"");
    CHECK_ERR(parse_edit("\"vit_heads\":32", "\"vit_heads\":3", &c), IT_E_FORMAT, "vit_heads (3)");
    CHECK_ERR(parse_edit("\"vit_heads\":32", "\"vit_heads\":128", &c), IT_E_FORMAT, "multiple of 4");
    CHECK_ERR(parse_edit("\"rms_norm_eps\":1e-5", "\"rms_norm_eps\":0", &c), IT_E_FORMAT,
              "rms_norm_eps = 0 is out of range");
    CHECK_ERR(parse_edit("\"rope_theta\":10000.0", "\"rope_theta\":\"1e4\"", &c), IT_E_FORMAT,
              "\"rope_theta\" must be a number");
    CHECK_ERR(it_config_parse(&c, "[1,2]", 5, "cfg.json"), IT_E_FORMAT, "cfg.json: not a JSON object");
    CHECK_ERR(it_config_parse(&c, "{\"arch\":", 8, "cfg.json"), IT_E_FORMAT, "cfg.json: not valid JSON");
    return test_result();
}
