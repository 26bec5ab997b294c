"""The tutorial's blog models, for SQLAlchemy 1.4 and 2.x (the tutorial's
``declarative_base(bind=engine)`` no longer exists: the engine belongs to env.py)."""

from sqlalchemy import Column, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class User(Base):
    __tablename__ = "user"
    id = Column(Integer, autoincrement=True, primary_key=True)
    username = Column(String(20), nullable=False)
    gender = Column(Enum("male", "female"))


class Article(Base):
    __tablename__ = "article"
    id = Column(Integer, autoincrement=True, primary_key=True)
    title = Column(String(50), nullable=False)
    uid = Column(Integer, ForeignKey("user.id"), nullable=False)
    author = relationship("User", backref="my_articles")
