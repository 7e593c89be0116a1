/* The synthetic shop's text tables (synth_words.c): departments, categories with their own
 * vocabularies, brands, attribute families and sentence templates, in English and Chinese.
 * The generator (synth.c) only reads them; the test reads them too (category paths and the
 * complement map) to check what the generator promised.
 *
 * Every word list is NULL-terminated. Templates hold placeholders that synth.c fills:
 *   {B} brand   {N} product noun   {F} {G} two different features   {S} size   {T} tier word
 *   {P} price   {C} leaf category  {1} {2} the item's attribute values (family slots 0, 1)
 *   {V} the value of the family a family sentence is about   {#} the item's number (2-48)   {M} model code
 * A category without brands (phones) is branded by its slot-0 value (the device name).
 * lt_synth_words_check() verifies that every template only uses what its category has. */
#ifndef LONGTAIL_SYNTH_WORDS_H
#define LONGTAIL_SYNTH_WORDS_H

#include <stdint.h>

enum { SYNTH_EN, SYNTH_ZH, SYNTH_NLANG };

/* Attribute families: latent item attributes that users have preferences over. Shared across
 * categories (a lavender shampoo and a lavender candle), so tastes carry between them. */
enum {
    F_NONE,
    F_COLOUR, F_SCENT, F_SKIN, F_HAIR, F_FABRIC, F_COOKWARE, F_DEVICE,
    F_FLAVOR, F_AGE, F_STYLE, F_DIET, F_SIZE, F_GENRE, F_DOG,
    SYNTH_NFAM
};

enum {
    B_NONE,
    B_SKIN, B_HAIR, B_MAKEUP, B_FRAGRANCE, B_PHONE_ACC, B_AUDIO, B_CAMERA, B_MEMORY, B_KITCHEN,
    B_HOME, B_SPORTS, B_TOYS, B_BOOKS, B_FASHION, B_GROCERY, B_PETS,
    SYNTH_NBRAND_GROUPS
};

enum {
    C_NONE = -1,
    C_MOISTURIZER, C_SERUM, C_CLEANSER, C_SHAMPOO, C_CONDITIONER, C_PERFUME, C_LIPSTICK,
    C_NAIL_POLISH, C_SMARTPHONE, C_PHONE_CASE, C_CHARGER, C_HEADPHONES, C_CAMERA, C_MEMORY_CARD,
    C_COFFEE_MAKER, C_MUG, C_FRYING_PAN, C_UTENSILS, C_SHEETS, C_PILLOW, C_CANDLE, C_YOGA_MAT,
    C_WATER_BOTTLE, C_RUNNING_SHOES, C_SOCKS, C_BUILDING_SET, C_BOARD_GAME, C_NOVEL, C_COOKBOOK,
    C_PICTURE_BOOK, C_DRESS, C_TSHIRT, C_HANDBAG, C_COFFEE_BEANS, C_TEA, C_CHOCOLATE, C_DOG_FOOD,
    C_DOG_TOY,
    SYNTH_NCATS
};

#define SYNTH_SLOTS 2 /* attribute family slots per category */
#define SYNTH_MAXCOMP 3

typedef const char *const *synth_words; /* NULL-terminated list */

typedef struct {
    const char *path;   /* "Beauty > Skin Care > Moisturizers" */
    const char *title;  /* title template */
    synth_words nouns, features, sizes;
    synth_words sentences; /* category-specific description sentences */
} synth_cat_text;

typedef struct {
    int dept;                      /* categories of one department share a first path level */
    int brands;                    /* B_*: categories with the same group share brands */
    float weight;                  /* relative share of the catalog and of user interest */
    float price;                   /* typical price in USD */
    int8_t fam[SYNTH_SLOTS];       /* F_* per slot, F_NONE if unused */
    int8_t comp[SYNTH_MAXCOMP + 1];/* complement categories, C_NONE-terminated */
    synth_cat_text text[SYNTH_NLANG];
} synth_category;

typedef struct {
    synth_words values[SYNTH_NLANG];    /* same length in every language */
    synth_words sentences[SYNTH_NLANG]; /* templates about one value: {V} */
} synth_family;

extern const synth_category synth_cats[SYNTH_NCATS];
extern const synth_family synth_fams[SYNTH_NFAM];
extern const synth_words synth_brands[SYNTH_NBRAND_GROUPS][SYNTH_NLANG];
extern const synth_words synth_tiers[3][SYNTH_NLANG]; /* budget, mid, premium */
extern const synth_words synth_offer[SYNTH_NLANG];    /* tier and price; one per description */
extern const synth_words synth_generic[SYNTH_NLANG];  /* sentences any category may use */
extern const synth_words synth_noise[SYNTH_NLANG];    /* HTML-ish and shouty catalog noise */
extern const synth_words synth_title_noise[SYNTH_NLANG];
extern const char *const synth_currency[SYNTH_NLANG];
extern const double synth_price_rate[SYNTH_NLANG];    /* USD -> local price */

int synth_count(synth_words w);
/* 0, or LT_EFORMAT naming the first inconsistency (unknown placeholder, a slot the category
 * lacks, lists of different lengths across languages, a tab or newline in a string). */
int lt_synth_words_check(void);

#endif
