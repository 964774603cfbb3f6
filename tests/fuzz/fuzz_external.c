/* libFuzzer harness for external-data resolution. An input is a 2-byte
 * little-endian model length, the model, and the bytes of the folder's
 * "weights.bin". The model's folder also holds fixed traps a hostile model
 * may point at: a subfolder, a file in it, a FIFO (must not block), a
 * symlink leading out of the folder (must be refused) and a dangling one.
 * The folder is per process, made on first use and removed at exit. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_onnx_common.h"

#define LENGTH_PREFIX_BYTES 2
#define FOLDER_MODE 0700
#define PATH_BYTES 256
#define SMALL_FILE_BYTES 64

static void fuzz_folder(char *dir, size_t len)
{
    snprintf(dir, len, "%s/lps-fuzz-external-%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
}

static void remove_folder(void)
{
    static const char *const entries[] = {"weights.bin", "sub/inner.bin", "sub", "fifo",
                                          "escape", "dangling"};
    char dir[PATH_BYTES], path[2 * PATH_BYTES];
    fuzz_folder(dir, sizeof dir);
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]);
        remove(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    uint8_t small[SMALL_FILE_BYTES] = {0};
    char dir[PATH_BYTES], path[2 * PATH_BYTES];
    fuzz_folder(dir, sizeof dir);
    remove_folder();
    if (mkdir(dir, FOLDER_MODE) != 0)
        abort();
    snprintf(path, sizeof path, "%s/sub", dir);
    if (mkdir(path, FOLDER_MODE) != 0)
        abort();
    snprintf(path, sizeof path, "%s/sub/inner.bin", dir);
    write_file(path, small, sizeof small);
    snprintf(path, sizeof path, "%s/fifo", dir);
    if (mkfifo(path, FOLDER_MODE) != 0)
        abort();
    snprintf(path, sizeof path, "%s/escape", dir);
    if (symlink("/etc/passwd", path) != 0)
        abort();
    snprintf(path, sizeof path, "%s/dangling", dir);
    if (symlink("nowhere.bin", path) != 0)
        abort();
    atexit(remove_folder);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[PATH_BYTES], path[2 * PATH_BYTES];
    if (size < LENGTH_PREFIX_BYTES)
        return 0;
    size_t model_len = (size_t)data[0] | (size_t)data[1] << 8;
    size -= LENGTH_PREFIX_BYTES;
    data += LENGTH_PREFIX_BYTES;
    if (model_len > size)
        model_len = size;
    fuzz_folder(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    write_file(path, data + model_len, size - model_len);
    fuzz_model(data, model_len, dir);
    return 0;
}
