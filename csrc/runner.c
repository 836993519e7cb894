/*
 * runner.c — arianna-run, a drop-in for llama2.c's `run`, built only on the
 * public C ABI (arianna.h).
 *
 *   arianna-run model.bin -t 0 -n 256 -i "Once upon a time"
 *
 * Generate mode prints the prompt and its continuation; chat mode uses the
 * Llama-2 [INST] <<SYS>> template and reads the user's turns from stdin (one
 * line each), so it also works piped. Where llama2.c feeds the prompt one
 * token at a time, we prefill all but its last token in one call and then
 * step: the same positions see the same tokens, so greedy output is
 * token-identical.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arianna.h"

#define BOS 1
#define EOS 2
#define REPEAT_WINDOW 64 /* tokens the repetition penalty looks back over */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    const char *msg = ar_last_error();
    fprintf(stderr, "arianna-run: %s%s%s\n", what, msg[0] ? ": " : "", msg);
    exit(EXIT_FAILURE);
}

static void error_usage(void) {
    fprintf(stderr,
            "Usage:   arianna-run <checkpoint> [options]\n"
            "Example: arianna-run model.bin -n 256 -i \"Once upon a time\"\n"
            "Options:\n"
            "  -t <float>  temperature in [0,inf], default 1.0 (0 = greedy)\n"
            "  -p <float>  p value in top-p (nucleus) sampling in [0,1], default 0.9\n"
            "  -s <int>    random seed, default time(NULL)\n"
            "  -n <int>    number of steps to run for, default 256. 0 = max_seq_len\n"
            "  -i <string> input prompt\n"
            "  -z <string> optional path to custom tokenizer\n"
            "  -m <string> mode: generate|chat, default: generate\n"
            "  -y <string> (optional) system prompt in chat mode\n"
            "  -k <int>    keep only the k most likely tokens, default 0 (off)\n"
            "  -r <float>  repetition penalty (> 0; 1 = off), default 1.0\n"
            "  --threads N worker threads, default 0 = all CPUs\n"
            "  --ids       print generated token ids, one per line, instead of text\n");
    exit(EXIT_FAILURE);
}

static double parse_float(const char *flag, const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        fprintf(stderr, "arianna-run: %s expects a number, got '%s'\n", flag, s);
        exit(EXIT_FAILURE);
    }
    return v;
}

static long long parse_int(const char *flag, const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        fprintf(stderr, "arianna-run: %s expects an integer, got '%s'\n", flag, s);
        exit(EXIT_FAILURE);
    }
    return v;
}

/* ---- output: text through the streaming decoder, or ids ------------------ */

typedef struct {
    ar_decoder *dec;
    char *buf;
    int cap;
    int ids; /* --ids: print token ids instead of text */
} Printer;

static void print_chunk(const char *s, int n) {
    /* Like llama2.c's safe_printf: a lone unprintable control byte (from a
     * <0x01>-style byte piece) is dropped rather than sent to the terminal. */
    if (n == 1) {
        unsigned char c = (unsigned char)s[0];
        if ((c < 0x20 && !(c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')) || c == 0x7f) return;
    }
    fwrite(s, 1, (size_t)n, stdout);
}

/* Print token `next` that followed `prev`. */
static void emit(Printer *pr, int prev, int next) {
    if (pr->ids) {
        printf("%d\n", next);
        fflush(stdout);
        return;
    }
    int n;
    /* A piece can be longer than the buffer; the decoder then keeps its state
     * and we retry with more room. */
    while ((n = ar_decoder_push(pr->dec, prev, next, pr->buf, pr->cap)) == AR_E_BUFFER && pr->cap < (1 << 26)) {
        char *bigger = realloc(pr->buf, (size_t)pr->cap * 2);
        if (!bigger) break;
        pr->buf = bigger;
        pr->cap *= 2;
    }
    if (n < 0) die("cannot decode a token");
    print_chunk(pr->buf, n);
    fflush(stdout);
}

/* Print what the decoder still holds (an unfinished UTF-8 sequence). */
static void emit_flush(Printer *pr) {
    if (pr->ids) return;
    int n = ar_decoder_flush(pr->dec, pr->buf, pr->cap);
    if (n > 0) fwrite(pr->buf, 1, (size_t)n, stdout);
    fflush(stdout);
}

/* Tokens/s over the tokens after the first one of each reply, timed from
 * when that first token came out (as llama2.c's "achieved tok/s"). */
typedef struct {
    long tokens;
    double seconds;
} Rate;

static void report_rate(const Rate *r) {
    fprintf(stderr, "achieved tok/s: %f\n", r->seconds > 0 ? (double)r->tokens / r->seconds : 0.0);
}

/* ---- generation loop ------------------------------------------------------ */

static int32_t *encode(ar_tokenizer *tok, const char *text, int *n_out) {
    int cap = (int)strlen(text) + 3; /* +3: BOS, the dummy prefix, EOS */
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "arianna-run: out of memory\n");
        exit(EXIT_FAILURE);
    }
    int n = ar_tokenizer_encode(tok, text, -1, 1, 0, ids, cap);
    if (n < 1) die("cannot encode the prompt");
    *n_out = n;
    return ids;
}

static void generate(ar_session *s, ar_tokenizer *tok, ar_sampler *sp, Printer *pr, const char *prompt,
                     int steps) {
    int n_prompt;
    int32_t *prompt_tokens = encode(tok, prompt ? prompt : "", &n_prompt);
    Rate rate = {0, 0};

    /* Echo the prompt, as llama2.c does (it prints every next token, prompt
     * tokens included); --ids prints only generated tokens. */
    int pos = 0; /* tokens already "run", in llama2.c's counting */
    int stop = 0;
    for (int i = 1; i < n_prompt && pos < steps; i++) {
        pos++;
        if (prompt_tokens[i] == BOS) { stop = 1; break; }
        if (!pr->ids) emit(pr, prompt_tokens[i - 1], prompt_tokens[i]);
    }

    if (!stop && pos < steps) {
        /* The prompt all but its last token in one call (no logits: the step computes them), then step. */
        if (n_prompt > 1 && ar_session_prefill_kv(s, prompt_tokens, n_prompt - 1) < 0) die("prefill failed");
        ar_sampler_observe(sp, prompt_tokens, n_prompt);
        int token = prompt_tokens[n_prompt - 1];
        double start = 0;
        int generated = 0;
        while (pos < steps) {
            int next = ar_session_step(s, sp, token);
            if (next < 0) die("forward/sample failed");
            pos++;
            if (next == BOS) break; /* llama2.c's end of a story */
            emit(pr, token, next);
            token = next;
            if (generated++ == 0) start = now_s();
        }
        if (generated > 1) {
            rate.tokens = generated - 1;
            rate.seconds = now_s() - start;
        }
    }
    emit_flush(pr);
    if (!pr->ids) printf("\n");
    fflush(stdout);
    report_rate(&rate);
    free(prompt_tokens);
}

/* ---- chat ------------------------------------------------------------------ */

/* One line from stdin without its line ending; NULL at end of input. */
static char *read_line(const char *guide, char **line, size_t *cap) {
    printf("%s", guide);
    fflush(stdout);
    ssize_t n = getline(line, cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = '\0';
    return *line;
}

static void chat(ar_session *s, ar_tokenizer *tok, ar_sampler *sp, Printer *pr, const char *cli_user,
                 const char *cli_system, int steps) {
    char *line = NULL, *system = NULL;
    size_t line_cap = 0;
    Rate rate = {0, 0};
    int pos = 0;

    /* With no -y the system prompt is the first line of input, as in llama2.c
     * (pass -y "" to skip it). */
    if (cli_system) {
        system = strdup(cli_system);
    } else {
        system = strdup(read_line("Enter system prompt (optional): ", &line, &line_cap) ? line : "");
    }
    if (!system) die("out of memory");

    for (int turn = 0; pos < steps; turn++) {
        const char *user;
        if (turn == 0 && cli_user) {
            user = cli_user;
        } else if (!(user = read_line("User: ", &line, &line_cap))) {
            break; /* end of input ends the chat */
        }

        /* Llama-2 chat template; the system prompt only in the first turn. */
        size_t size = strlen(system) + strlen(user) + 64;
        char *rendered = malloc(size);
        if (!rendered) die("out of memory");
        if (turn == 0 && system[0])
            snprintf(rendered, size, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", system, user);
        else
            snprintf(rendered, size, "[INST] %s [/INST]", user);
        int n_prompt;
        int32_t *prompt = encode(tok, rendered, &n_prompt);
        free(rendered);
        printf("Assistant: ");
        fflush(stdout);

        /* The previous reply's EOS goes into the context first (llama2.c
         * feeds it before the next [INST]). */
        int32_t *feed = malloc(((size_t)n_prompt + 1) * sizeof *feed);
        if (!feed) die("out of memory");
        int n_feed = 0;
        if (turn > 0) feed[n_feed++] = EOS;
        memcpy(feed + n_feed, prompt, (size_t)n_prompt * sizeof *feed);
        n_feed += n_prompt;
        free(prompt);
        if (pos + n_feed > steps) { /* llama2.c would run out of steps inside the prompt */
            free(feed);
            pos = steps;
            break;
        }
        if (n_feed > 1 && ar_session_prefill_kv(s, feed, n_feed - 1) < 0) die("prefill failed");
        ar_sampler_observe(sp, feed, n_feed);
        int token = feed[n_feed - 1];
        free(feed);

        ar_decoder_reset(pr->dec);
        int next = ar_session_step(s, sp, token);
        if (next < 0) die("forward/sample failed");
        pos += n_feed;
        double start = now_s();
        long generated = 0;
        for (;;) {
            if (next == EOS) break;
            emit(pr, token, next);
            generated++;
            if (pos >= steps) break;
            token = next;
            next = ar_session_step(s, sp, token);
            if (next < 0) die("forward/sample failed");
            pos++;
        }
        if (generated > 1) {
            rate.tokens += generated - 1;
            rate.seconds += now_s() - start;
        }
        emit_flush(pr);
        if (next == EOS) printf("\n");
        fflush(stdout);
    }
    printf("\n");
    fflush(stdout);
    report_rate(&rate);
    free(line);
    free(system);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char *argv[]) {
    const char *checkpoint = NULL, *tokenizer_path = "tokenizer.bin";
    const char *prompt = NULL, *system_prompt = NULL, *mode = "generate";
    double temperature = 1.0, topp = 0.9, repeat_penalty = 1.0;
    long long steps = 256, topk = 0, threads = 0;
    unsigned long long seed = 0;
    int print_ids = 0;

    if (argc < 2 || argv[1][0] == '-') error_usage();
    checkpoint = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--ids") == 0) { print_ids = 1; continue; }
        if (i + 1 >= argc) error_usage(); /* every other flag takes a value */
        const char *v = argv[++i];
        if (strcmp(a, "--threads") == 0) { threads = parse_int(a, v); continue; }
        if (a[0] != '-' || strlen(a) != 2) error_usage();
        switch (a[1]) {
        case 't': temperature = parse_float(a, v); break;
        case 'p': topp = parse_float(a, v); break;
        case 's': seed = (unsigned long long)parse_int(a, v); break;
        case 'n': steps = parse_int(a, v); break;
        case 'i': prompt = v; break;
        case 'z': tokenizer_path = v; break;
        case 'm': mode = v; break;
        case 'y': system_prompt = v; break;
        case 'k': topk = parse_int(a, v); break;
        case 'r': repeat_penalty = parse_float(a, v); break;
        default: error_usage();
        }
    }
    /* llama2.c's parameter fixes */
    if (seed == 0) seed = (unsigned long long)time(NULL);
    if (!(temperature >= 0.0)) temperature = 0.0;
    if (!(topp >= 0.0 && topp <= 1.0)) topp = 0.9;
    if (steps < 0) steps = 0;
    if (topk < 0 || topk > INT32_MAX) {
        fprintf(stderr, "arianna-run: -k must be >= 0\n");
        return EXIT_FAILURE;
    }
    if (!(repeat_penalty > 0.0)) {
        fprintf(stderr, "arianna-run: -r must be > 0\n");
        return EXIT_FAILURE;
    }
    if (threads < 0 || threads > 1024) {
        fprintf(stderr, "arianna-run: --threads must be in [0, 1024]\n");
        return EXIT_FAILURE;
    }
    int chat_mode = strcmp(mode, "chat") == 0;
    if (!chat_mode && strcmp(mode, "generate") != 0) {
        fprintf(stderr, "arianna-run: unknown mode: %s\n", mode);
        error_usage();
    }

    ar_model *model = ar_model_open(checkpoint, (int)threads);
    if (!model) die("cannot load the model");
    int vocab = (int)ar_model_info(model, AR_INFO_VOCAB_SIZE);
    int seq_len = (int)ar_model_info(model, AR_INFO_SEQ_LEN);
    if (steps == 0 || steps > seq_len) steps = seq_len;

    ar_tokenizer *tok = ar_tokenizer_open(tokenizer_path, vocab);
    if (!tok) die("cannot load the tokenizer");
    ar_session *session = ar_session_new(model);
    if (!session) die("cannot create a session");
    ar_sampler *sampler = ar_sampler_new(vocab, seed);
    if (!sampler) die("cannot create a sampler");
    if (ar_sampler_config(sampler, (float)temperature, (float)topp, (int)topk, (float)repeat_penalty,
                          REPEAT_WINDOW) != AR_OK)
        die("bad sampler settings");

    Printer pr = {ar_decoder_new(tok), malloc(4096), 4096, print_ids};
    if (!pr.dec || !pr.buf) die("cannot create a decoder");

    if (chat_mode)
        chat(session, tok, sampler, &pr, prompt, system_prompt, (int)steps);
    else
        generate(session, tok, sampler, &pr, prompt, (int)steps);

    free(pr.buf);
    ar_decoder_free(pr.dec);
    ar_sampler_free(sampler);
    ar_session_free(session);
    ar_tokenizer_free(tok);
    ar_model_free(model);
    return EXIT_SUCCESS;
}
