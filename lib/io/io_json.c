/*
 * io_json.c — a JSON object from a file: the one way configuration files
 * (quantize_config.json, config.json of a packed directory, model.safetensors.index.json)
 * are read, so each goes through the opening policy (no FIFO, recorded
 * as an input) and the bounded read, and each defect is worded once; and the one
 * writer of a double into JSON.
 */
#include "io/io_internal.h"

#include <math.h>
#include <stdlib.h>

qtip_status io_read_json_object(const char *path, json_t **out)
{
    *out = NULL;
    void *buf;
    size_t len;
    QTIP_FORWARD_IF_ERROR(qtip_read_file(path, &buf, &len));
    json_error_t e;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    free(buf);
    QTIP_RETURN_ERROR_IF(!j, QTIP_E_FORMAT, "cannot read '%s': invalid JSON: %s (line %d)", path, e.text,
                         e.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return qtip_error(QTIP_E_FORMAT, "'%s' is not a JSON object", path);
    }
    *out = j;
    return QTIP_OK;
}

json_t *io_json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }
