/**
 * lexicon.ts — the fixed word lists of the leo layer (English + Russian).
 */

export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    // English
    "a an the and or but if then else of to in on at by for with from into onto over under about as is am are was " +
    "were be been being do does did have has had having i me my mine myself you your yours yourself he him his she " +
    "her hers it its we us our ours they them their theirs this that these those there here what which who whom " +
    "whose when where why how all any both each few more most other some such no nor not only own same so than too " +
    "very can will just should would could may might must shall now up down out off again once also yet let let's " +
    "i'm you're it's don't isn't i'll i've that's " +
    // Russian
    "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее её мне было вот от " +
    "меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж " +
    "вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без будто " +
    "чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем " +
    "чтобы нее неё сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше тот " +
    "через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть " +
    "том нельзя такой им более всегда конечно всю между это мой моё мое твой твоя твоё твое"
  ).split(/\s+/),
);

/** Words that raise arousal (docs/leo.md §2.2), with their Russian equivalents. */
export const INTENSE_WORDS: ReadonlySet<string> = new Set(
  (
    "now must need urgent important please help stop wait listen understand really very so always never " +
    "everything nothing everyone nobody " +
    "сейчас теперь должен должна должны надо нужно нужен нужна срочно срочный важно важный пожалуйста помоги " +
    "помогите помощь стоп остановись хватит подожди постой слушай послушай пойми понимаешь понять правда " +
    "действительно очень так всегда никогда всё все ничего каждый никто"
  ).split(/\s+/),
);

/** Questions about identity (docs/leo.md §3.2), matched on whole words. */
export const IDENTITY_PHRASES: readonly string[] = [
  "who are you",
  "what are you",
  "who am i",
  "are you real",
  "are you alive",
  "кто ты",
  "что ты такое",
  "ты живая",
  "ты настоящая",
];

/** The default kernel's name in Cyrillic; the display name itself comes from the manifest at run time. */
export const IDENTITY_NAMES: readonly string[] = ["арианна"];
