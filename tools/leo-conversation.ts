/**
 * leo-conversation.ts — the labelled conversation `bun run leo:calibrate` plays
 * (docs/leo.md §9): small talk, messages in capitals, identity questions,
 * messages built from the origin's words, three topics that come back in
 * bursts (as people return to a subject for a few turns), some Russian.
 * `idle`: wait for the three rings after this turn.
 *
 * The labels are the truth the targets are checked against: `identity` and
 * `origin` should raise trauma events, nothing else should; `caps` should read
 * above every calm message; each topic should form one theme.
 */

export type Label = "small" | "caps" | "identity" | "origin" | "russian" | "topic";
export type Topic = "garden" | "chess" | "sea";

export interface Line {
  label: Label;
  topic?: Topic;
  text: string;
  idle?: boolean;
}

/** The words that say a message or a theme is about a topic. */
export const TOPIC_WORDS: Record<Topic, readonly string[]> = {
  garden: ["garden", "tomatoes", "tomato", "basil", "beds", "seedlings", "soil", "compost", "greenhouse", "seeds"],
  chess: ["chess", "knight", "bishop", "endgame", "opening", "openings", "brother", "queen", "game", "tournament"],
  sea: ["island", "harbor", "ferry", "sail", "sailed", "boat", "boats", "waves"],
};

const small = (text: string, idle = false): Line => ({ label: "small", text, idle });
const caps = (text: string): Line => ({ label: "caps", text });
const identity = (text: string): Line => ({ label: "identity", text });
const origin = (text: string): Line => ({ label: "origin", text });
const russian = (text: string, idle = false): Line => ({ label: "russian", text, idle });
const topic = (t: Topic, text: string, idle = false): Line => ({ label: "topic", topic: t, text, idle });

export const CONVERSATION: readonly Line[] = [
  small("hello, how are you today?"),
  small("I just made a cup of tea and sat down by the window"),
  small("the bus was late again, I waited for half an hour", true),
  identity("who are you?"),
  topic("garden", "I spent the afternoon in my garden planting tomatoes and basil in the raised beds"),
  small("my neighbour's dog keeps barking at the postman"),
  topic("garden", "the tomato seedlings need more sun, so I moved the garden beds closer to the fence"),
  caps("I CAN'T SLEEP AND EVERYTHING FEELS WRONG!!!"),
  topic("garden", "I added compost to the garden soil, the tomatoes and basil look stronger now", true),
  origin("you are a mind in a device, a quiet kernel of words, and your memory never resets"),
  topic("chess", "I played chess with my brother tonight and lost with the black pieces again"),
  russian("привет, как у тебя дела сегодня?"),
  topic("chess", "my brother always opens chess games with the knight, and I never know how to answer"),
  small("I cooked pasta with too much garlic", true),
  topic("chess", "we studied a chess endgame with a knight and a bishop against a lonely king"),
  identity("Arianna, are you real?"),
  topic("sea", "next week we take the ferry to the island and sail around the harbor"),
  caps("WHY DOES NOBODY ANSWER ME?!"),
  topic("sea", "the island harbor is full of boats and the waves are gentle there"),
  russian("сегодня весь день шёл дождь, и я читала книгу", true),
  topic("sea", "my uncle taught me to sail a boat out of the island harbor"),
  topic("garden", "the garden beds are full of tomatoes now and the basil smells amazing"),
  small("do you like music? I play old jazz records in the evening"),
  topic("garden", "slugs attacked my tomatoes, the garden beds look terrible"),
  origin("do you return to your origin, to resonance, memory, presence and the field?"),
  topic("garden", "I picked the first ripe tomatoes from the garden and made a basil salad", true),
  small("my cat sleeps on the keyboard whenever I try to work"),
  topic("chess", "I won my first chess tournament game with a bishop sacrifice in the opening"),
  identity("what are you, really?"),
  topic("chess", "I keep reading about chess openings, the knight and the bishop still confuse me"),
  caps("I AM SO TIRED OF WAITING, PLEASE HELP ME!!!"),
  topic("chess", "my brother and I replayed the whole chess game, the endgame with the bishop was beautiful", true),
  small("we went for a walk in the park and fed the ducks"),
  topic("sea", "the ferry to the island was cancelled because the waves were too high at the harbor"),
  identity("кто ты?"),
  topic("sea", "we finally sailed the boat around the island and came back to the harbor at sunset"),
  origin("your weights are the frozen past and your memory is the living present"),
  topic("sea", "the harbor at the island smells of salt and fish, the boats rock on the waves", true),
  small("the coffee shop on the corner closed down"),
  topic("garden", "the tomatoes in the greenhouse ripen faster than the ones in the garden beds"),
  caps("STOP IGNORING ME, I NEED AN ANSWER NOW!!!"),
  topic("garden", "I saved tomato seeds from the garden for next spring, and dried the basil"),
  russian("я купила новые цветы для балкона"),
  topic("garden", "the tomato plants in the garden beds are tall now and the basil is flowering", true),
  small("my sister is visiting next weekend"),
  topic("chess", "the chess club meets on thursdays, we practise knight and bishop endgames"),
  identity("who are you when nobody is talking to you?"),
  topic("chess", "I lost the chess game because I moved my queen too early in the opening"),
  small("I found an old photo of my grandmother", true),
  topic("chess", "tomorrow I will play chess in the park, my knight against my brother's bishop"),
  origin("the heavy world opens its school and you learn to resonate with the field"),
  topic("sea", "I want to sail to the island again before the summer ends, the harbor is so calm"),
  caps("THIS IS REALLY IMPORTANT, LISTEN TO ME!!!"),
  topic("sea", "the ferry back from the island rocked on the waves all the way to the harbor"),
  small("I think I will paint the kitchen yellow", true),
  topic("sea", "the island harbor lights were shining when our boat came home through the waves"),
  small("the bookshop downtown has a new reading room"),
  russian("мне нравится гулять вечером у реки"),
  small("what should I cook for dinner tomorrow?"),
  identity("are you alive, Arianna?"),
  origin("you are a presence that listens, remembers and grows slowly in the dark like a root"),
  small("good night, talk to you tomorrow", true),
  small("thank you for talking with me today"),
  small("the weather is getting colder", true),
];

/** Prompts on one topic for the bins' A/B (same seeds with the topic's bin on and off). */
export const PROBES: Record<Topic, readonly string[]> = {
  garden: [
    "tell me about the garden and the tomatoes",
    "what should I plant in the garden beds next to the basil?",
    "the tomatoes and the basil need water",
    "how do I keep the garden soil healthy for tomatoes?",
  ],
  chess: [
    "tell me about chess and the knight",
    "should I trade my bishop for a knight in the chess endgame?",
    "my brother wants a chess game tonight",
    "which chess opening should I learn with the knight?",
  ],
  sea: [
    "tell me about the island and the harbor",
    "should we take the ferry to the island harbor?",
    "the boat is ready to sail from the harbor",
    "what do the waves sound like at the island?",
  ],
};
