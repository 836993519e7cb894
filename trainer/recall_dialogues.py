"""
recall_dialogues.py — generated dialogues that teach her to use what she was told.

The device puts what the user said earlier back into the prompt (the last
exchanges, and older ones found by full-text recall), but a kernel that never
saw an answer copied from its context does not copy: the memory probe
(tools/memory-probe.ts) found the fact in the prompt 5 of 5 times and in the
reply 0 of 5. These dialogues show the skill: the user tells a fact, talk goes
on for a few exchanges, the user asks, and she answers with the fact.

The facts are drawn from lists that leave out every value the probe asks about
(Mira, Basil, tomatoes, the violin, Lisbon), so the probe measures whether she
copies from context, not whether she learnt its answers.

    python trainer/recall_dialogues.py --n 5 --seed 1     # print some
"""
import argparse
import random
from typing import List, Tuple

# (tell, ask, answer) templates per kind of fact; {v} is the value
KINDS = {
    "name": (["My name is {v}.", "I am {v}, by the way.", "You can call me {v}."],
             ["Do you remember my name?", "What is my name?", "Who am I?"],
             ["Your name is {v}.", "You are {v}. I remember.", "Of course. You are {v}."],
             ["Anna", "Tomas", "Lena", "Oskar", "Nadia", "Pavel", "Ruth", "Igor", "Sofia", "Daniel", "Vera",
              "Marco", "Elena", "Felix", "Greta", "Hugo", "Irina", "Jonas", "Katya", "Leo", "Maya", "Nils",
              "Olga", "Peter", "Rosa", "Sasha", "Tanya", "Viktor", "Yuri", "Zoe", "Alma", "Boris", "Clara"]),
    "pet": (["My {p} is called {v}.", "I have a {p} named {v}.", "Our {p}'s name is {v}."],
            ["What is my {p} called?", "Do you remember my {p}'s name?", "What is the name of my {p}?"],
            ["Your {p} is called {v}.", "Your {p} is {v}.", "{v}. Your {p} is {v}."],
            ["Pepper", "Luna", "Max", "Biscuit", "Olive", "Mochi", "Tiger", "Ginger", "Sunny", "Bruno",
             "Pickle", "Shadow", "Daisy", "Felix", "Nutmeg", "Clover", "Oscar", "Maple", "Ziggy", "Hazel"]),
    "grow": (["I grow {v} in my garden.", "This year I planted {v}.", "In my garden there are {v}."],
             ["What do I grow in my garden?", "What did I plant this year?", "What is in my garden?"],
             ["You grow {v}.", "You grow {v} in your garden.", "{v}. You told me about your {v}."],
             ["roses", "carrots", "potatoes", "beans", "strawberries", "sunflowers", "onions", "lettuce",
              "peppers", "pumpkins", "cucumbers", "apples", "cherries", "lavender", "mint", "garlic"]),
    "teach": (["I teach {v} to children.", "I work as a teacher of {v}.", "My job is teaching {v}."],
              ["What do I teach?", "What is my job?", "What do I teach the children?"],
              ["You teach {v}.", "You teach {v} to children.", "{v}. You are a teacher of {v}."],
              ["piano", "drawing", "maths", "history", "English", "chess", "dance", "swimming", "guitar",
               "reading", "science", "French", "singing", "painting", "football", "cooking"]),
    "travel": (["On {d} I am going to {v}.", "Next {d} I travel to {v}.", "I will be in {v} on {d}."],
               ["Where am I going on {d}?", "Where do I travel next {d}?", "Where will I be on {d}?"],
               ["You are going to {v}.", "To {v}, on {d}.", "You will be in {v}. Have a good trip."],
               ["Paris", "Berlin", "Prague", "Rome", "Vienna", "Oslo", "Madrid", "Warsaw", "Dublin", "Athens",
                "Riga", "Tallinn", "Porto", "Krakow", "Geneva", "Helsinki", "Budapest", "Venice", "Milan"]),
    "food": (["My favourite food is {v}.", "I love {v} more than anything.", "I could eat {v} every day."],
             ["What is my favourite food?", "What food do I love?", "Do you remember what I love to eat?"],
             ["Your favourite food is {v}.", "You love {v}.", "{v}. You could eat it every day."],
             ["soup", "pancakes", "rice", "pasta", "pizza", "bread", "cheese", "dumplings", "fish", "salad",
              "noodles", "porridge", "cake", "eggs", "honey", "pie"]),
}
PETS = ["cat", "dog", "rabbit", "parrot", "hamster", "horse"]
DAYS = ["Saturday", "Sunday", "Monday", "Friday", "Tuesday"]
ACKS = ["I will remember that.", "Thank you for telling me.", "I like knowing that.", "That stays with me now.",
        "Noted, and kept.", "That is good to know."]

# ordinary exchanges between the fact and the question
TALK = [
    ("How are you today?", "I am well, and glad you are here."),
    ("It is cold outside.", "Then stay warm. A cup of tea helps."),
    ("I am a bit tired.", "Rest a little. We can talk slowly."),
    ("The sun came out at last.", "Good. A little light changes the whole day."),
    ("I made some coffee.", "Enjoy it. The first sip is the best one."),
    ("Work was long today.", "Long days end too. You did enough."),
    ("What are you thinking about?", "About our talk, and the small things in it."),
    ("It is raining again.", "Rain makes the room feel quiet. I like that."),
    ("I read a good book.", "A good book stays with you. What was it about?"),
    ("My friend called me.", "That is nice. Friends keep us warm."),
    ("I went for a walk.", "Walking clears the head. Was it quiet?"),
    ("Do you like music?", "I like songs that are simple and slow."),
    ("The kitchen smells of bread.", "That is one of the best smells in the world."),
    ("I could not sleep last night.", "I am sorry. Maybe tonight will be kinder."),
]


def recall_dialogue(rng: random.Random) -> Tuple[List[dict], str]:
    """One dialogue as [{"role", "text"}], and the fact's value: the fact told,
    0-4 exchanges of talk, the question, her answer."""
    tells, asks, answers, values = KINDS[rng.choice(sorted(KINDS))]
    fill = dict(v=rng.choice(values), p=rng.choice(PETS), d=rng.choice(DAYS))
    before = rng.randint(0, 1)
    talk = [[dict(role="user", text=u), dict(role="arianna", text=a)] for u, a in rng.sample(TALK, before + rng.randint(0, 4))]
    told = [dict(role="user", text=rng.choice(tells).format(**fill)), dict(role="arianna", text=rng.choice(ACKS))]
    msgs = [m for exchange in talk[:before] + [told] + talk[before:] for m in exchange]
    answer = rng.choice(answers).format(**fill)
    msgs += [dict(role="user", text=rng.choice(asks).format(**fill)),
             dict(role="arianna", text=answer[0].upper() + answer[1:])]
    return msgs, fill["v"]


# how many a fine-tune's base holds: ~90 k tokens with the system line, a little under the persona corpus
RECALL_DIALOGUES = 700


def recall_documents(n: int = RECALL_DIALOGUES, seed: int = 1) -> List[str]:
    """The dialogues rendered in the chat template, for a base's training side."""
    import arianna_data as D
    return [D.format_dialogue(m) for m in recall_dialogues(n, seed)]


def recall_dialogues(n: int, seed: int = 1) -> List[List[dict]]:
    rng = random.Random(seed)
    return [recall_dialogue(rng)[0] for _ in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    import arianna_data as D
    for msgs in recall_dialogues(a.n, a.seed):
        print(D.format_dialogue(msgs, system=""))


if __name__ == "__main__":
    main()
