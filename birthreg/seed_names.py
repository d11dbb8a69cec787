"""Names for `birthreg seed`: enough of them that search by a surname, a name or its start finds
a few births in a thousand, as real names do, not a sixth of them.

A family's surname is drawn from SURNAMES (their masculine forms: -ов, -ев, -ин, whose feminine
forms add -а), given names from the lists below, and patronymics are made from a man's given
name (Kazakh -ұлы / -қызы). 70 surnames, 40 given names of each sex and 40 patronymics give
about 112,000 distinct full names for each sex.
"""

from __future__ import annotations

import random

SURNAMES = (
    "Әбілқасымов", "Сәрсенбаев", "Жақсылықов", "Төлеубаев", "Омаров", "Иванов", "Ахметов",
    "Байжанов", "Бекмұхамбетов", "Дәулетов", "Ержанов", "Жұмабаев", "Қасымов", "Мұхамедов",
    "Нұрланов", "Оспанов", "Рахымов", "Сейітов", "Тоқтаров", "Уәлиев", "Шәріпов", "Есенов",
    "Абаев", "Әлиев", "Бақытов", "Ғалиев", "Досов", "Қалиев", "Серіков", "Мақсутов", "Нұрғалиев",
    "Сағындықов", "Тұрсынов", "Үсенов", "Құрманов", "Ілиясов", "Исаев", "Кенжебаев", "Әуезов",
    "Смағұлов", "Тәжибаев", "Жүсіпов", "Бектұров", "Қойшыбаев", "Мұратов", "Пірімов", "Рысқұлов",
    "Сұлтанов", "Ыдырысов", "Жәнібеков", "Қонаев", "Оразов", "Байтұрсынов", "Дулатов", "Петров",
    "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов",
    "Волков", "Алексеев", "Павлов", "Семенов", "Ким", "Пак", "Цой",
)
GIRLS = (
    "Аружан", "Інжу", "Томирис", "Айару", "Анна", "Гүлнұр", "Айгүл", "Динара", "Меруерт",
    "Гүлназ", "Мария", "Әйгерім", "Ақбота", "Балжан", "Дана", "Жансая", "Зарина", "Қарлығаш",
    "Ләззат", "Мөлдір", "Назерке", "Перизат", "Сабина", "Толғанай", "Ұлжан", "Шұғыла", "Әсел",
    "Айша", "Аяжан", "Жұлдыз", "Камила", "Сая", "Екатерина", "Ольга", "Наталья", "Елена",
    "Алина", "София", "Виктория", "Дарья",
)
BOYS = (
    "Нұрсұлтан", "Әлихан", "Алихан", "Данияр", "Иван", "Ерлан", "Асқар", "Нұрлан", "Болат",
    "Қанат", "Серік", "Ербол", "Бақыт", "Марат", "Арман", "Бауыржан", "Ғалым", "Дәурен",
    "Жандос", "Қайрат", "Мұхтар", "Нұржан", "Олжас", "Рүстем", "Самат", "Тимур", "Ұлан",
    "Әділет", "Айдос", "Ансар", "Ерасыл", "Мирас", "Санжар", "Темірлан", "Сергей", "Андрей",
    "Дмитрий", "Алексей", "Максим", "Артём",
)
#: Men's names that make patronymics (-ұлы, -қызы) without a change of stem.
PATRONYMIC_STEMS = BOYS[:34]


def feminine(surname: str) -> str:
    """The feminine form of a masculine surname (-ов → -ова; Korean surnames do not change)."""
    return f"{surname}а" if surname.endswith(("ов", "ев", "ин")) else surname


def patronymic(rng: random.Random, sex: str) -> str:
    return rng.choice(PATRONYMIC_STEMS) + ("қызы" if sex == "F" else "ұлы")


def adult(rng: random.Random, family: str, sex: str) -> tuple[str, str, str]:
    """A parent's surname, given name and patronymic."""
    if sex == "F":
        return feminine(family), rng.choice(GIRLS), patronymic(rng, "F")
    return family, rng.choice(BOYS), patronymic(rng, "M")


def child(rng: random.Random, family: str, sex: str, father: str | None) -> dict[str, str]:
    """The child's names as the application gives them: the family's surname, the father's
    given name in the patronymic (a man's name when there is no father)."""
    stem = father if father in PATRONYMIC_STEMS else rng.choice(PATRONYMIC_STEMS)
    girl = sex == "F"
    return {
        "surname": feminine(family) if girl else family,
        "given_name": rng.choice(GIRLS if girl else BOYS),
        "patronymic": stem + ("қызы" if girl else "ұлы"),
    }
