/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay driver: a main() for any fuzz target, so builds without libFuzzer (gcc, CI) run
 * LLVMFuzzerTestOneInput over a stored corpus. Usage: replay_<stem> <corpus-dir>.
 *
 * Every regular file of the directory is read into a buffer of exactly its size (so
 * ASan sees a read past the end) and passed to the target once, in strcmp order of the
 * names, so runs are repeatable. Names each input on stderr before running it and prints
 * how many ran. Exits non-zero when the directory is missing, unreadable or holds no
 * file: a CI job that silently replays nothing proves nothing. A crash in the target
 * ends the process with its signal (or ASan's exit code).
 *
 * Ownership: names and buffers are malloc'd here and freed before exit.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the file's bytes in a malloc'd buffer of exactly *size bytes (one byte for an
 * empty file, so the pointer is never NULL), or NULL. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return NULL;
    }
    *size = (size_t)st.st_size;
    uint8_t *buf = malloc(*size > 0 ? *size : 1);
    if (buf == NULL || fread(buf, 1, *size, f) != *size) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return buf;
}

/* Collects the names of the regular files in dir, sorted. Returns the count, or -1. */
static long list_files(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    char **names = NULL;
    long count = 0;
    long cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (count == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            char **grown = realloc(names, (size_t)cap * sizeof(*names));
            if (grown == NULL) {
                abort();
            }
            names = grown;
        }
        names[count] = strdup(e->d_name);
        if (names[count] == NULL) {
            abort();
        }
        count++;
    }
    closedir(d);
    if (count > 0) {
        qsort(names, (size_t)count, sizeof(*names), compare_names);
    }
    *out = names;
    return count;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    char **names = NULL;
    long count = list_files(argv[1], &names);
    if (count < 0) {
        fprintf(stderr, "replay: cannot read directory %s\n", argv[1]);
        return 1;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs in %s\n", argv[1]);
        free(names);
        return 1;
    }
    int failed = 0;
    for (long i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
        size_t size = 0;
        uint8_t *data = read_file(path, &size);
        if (data == NULL) {
            fprintf(stderr, "replay: cannot read %s\n", path);
            failed = 1;
        } else {
            /* Named before it runs: a crash (abort, ASan report) ends the process
             * without a chance to say which input did it. */
            fprintf(stderr, "replay: %s (%zu bytes)\n", names[i], size);
            LLVMFuzzerTestOneInput(data, size);
            free(data);
        }
        free(names[i]);
    }
    free(names);
    printf("replay: %ld inputs from %s\n", count, argv[1]);
    return failed;
}
